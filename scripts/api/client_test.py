"""scripts/api-check's test of a client generated from /api/openapi.json by openapi-python-client.

Run by scripts/api-check with the generated package `switchboard_client` on PYTHONPATH and
SWITCHBOARD_URL and SWITCHBOARD_SUPERADMIN_KEY set: a superadmin creates a tenant and an admin
key for it, and that admin reports a crisis and lists the tenant's crises, every call through the
generated client and its typed models (a document the generator misread fails here).
"""

import os
import unittest
import uuid

from switchboard_client import AuthenticatedClient
from switchboard_client.api.crises import create_crisis, list_crises
from switchboard_client.api.me import me
from switchboard_client.api.tenants import create_key, create_tenant
from switchboard_client.models import CreateKey, CreatedKey, NewCrisis, NewTenant, PageCrisis, Problem, Tenant


def client(token: str) -> AuthenticatedClient:
    # raise_on_unexpected_status: an answer the document does not list fails the test.
    return AuthenticatedClient(
        base_url=os.environ["SWITCHBOARD_URL"], token=token, raise_on_unexpected_status=True
    )


class GeneratedClient(unittest.TestCase):
    def setUp(self) -> None:
        self.root = client(os.environ["SWITCHBOARD_SUPERADMIN_KEY"])
        self.slug = f"client-{uuid.uuid4().hex[:12]}"

    def test_a_tenant_admin_lists_the_crises_it_reported(self) -> None:
        tenant = create_tenant.sync(
            client=self.root,
            body=NewTenant(slug=self.slug, name="Generated Client Plumbing", timezone="America/New_York"),
            idempotency_key=f"tenant-{self.slug}",
        )
        self.assertIsInstance(tenant, Tenant, tenant)
        self.assertEqual(tenant.slug, self.slug)

        key = create_key.sync(client=self.root, tenant=self.slug, body=CreateKey(role="admin"))
        self.assertIsInstance(key, CreatedKey, key)
        self.assertTrue(key.token)
        admin = client(key.token)

        who = me.sync(client=admin)
        self.assertEqual((who.role, str(who.tenant_id)), ("admin", str(tenant.id)))
        self.assertIn("crises:read", who.permissions)

        empty = list_crises.sync(client=admin)
        self.assertIsInstance(empty, PageCrisis, empty)
        self.assertEqual(empty.items, [])

        # Below the default risk threshold: dispatched at once, no duty officer is phoned.
        crisis = create_crisis.sync(client=admin, body=NewCrisis(type_="flood", risk_score=1.0))
        self.assertNotIsInstance(crisis, Problem, crisis)

        page = list_crises.sync(client=admin, limit=10)
        self.assertIsInstance(page, PageCrisis, page)
        self.assertEqual([c.id for c in page.items], [crisis.id])
        self.assertEqual(page.items[0].type_, "flood")
        self.assertIsNone(page.next_cursor)

    def test_a_superadmin_is_refused_a_tenants_crises_with_a_problem(self) -> None:
        answer = list_crises.sync_detailed(client=self.root)
        self.assertEqual(answer.status_code, 422, answer.content)
        self.assertIsInstance(answer.parsed, Problem)
        self.assertEqual(answer.parsed.code.value, "validation_failed")


if __name__ == "__main__":
    unittest.main()
