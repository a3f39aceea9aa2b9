-- Recordings follow their session's visibility down to the subject (issue 15): a recording, and
-- its control row, are visible exactly when the session is — the subquery runs under
-- call_session's own policy, which lets a client key see its subject's sessions, a reader key the
-- sessions assigned to it, admin and monitor keys (and the system path) the tenant's.
DROP POLICY IF EXISTS session_recording_isolation ON session_recording;
CREATE POLICY session_recording_isolation ON session_recording TO switchboard_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id));

DROP POLICY IF EXISTS session_recording_control_isolation ON session_recording_control;
CREATE POLICY session_recording_control_isolation ON session_recording_control TO switchboard_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id));
