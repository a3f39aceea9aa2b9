//! The call-status ordering rule exists as a pure function (`twilio::order`) and as the SQL
//! function the conditional updates use; here the two are compared on every combination.

use sqlx::PgPool;
use switchboard::twilio::order::{CallProgress, supersedes};

#[sqlx::test]
async fn the_sql_ordering_rule_agrees_with_the_rust_one_everywhere(pool: PgPool) {
    let sequences = [None, Some(0), Some(1), Some(7)];
    let mut cases = Vec::new();
    for current_rank in 0i16..=4 {
        for current_seq in sequences {
            for new_rank in 0i16..=4 {
                for new_seq in sequences {
                    cases.push((
                        CallProgress { rank: current_rank, sequence: current_seq },
                        CallProgress { rank: new_rank, sequence: new_seq },
                    ));
                }
            }
        }
    }
    let column =
        |f: fn(&(CallProgress, CallProgress)) -> CallProgress| cases.iter().map(f).collect::<Vec<_>>();
    let (current, incoming) = (column(|c| c.0), column(|c| c.1));
    let sql: Vec<bool> = sqlx::query_scalar(
        "SELECT call_status_supersedes(cr, cs, nr, ns)
         FROM unnest($1::smallint[], $2::int[], $3::smallint[], $4::int[]) WITH ORDINALITY AS t(cr, cs, nr, ns, i)
         ORDER BY i",
    )
    .bind(current.iter().map(|p| p.rank).collect::<Vec<_>>())
    .bind(current.iter().map(|p| p.sequence).collect::<Vec<_>>())
    .bind(incoming.iter().map(|p| p.rank).collect::<Vec<_>>())
    .bind(incoming.iter().map(|p| p.sequence).collect::<Vec<_>>())
    .fetch_all(&pool)
    .await
    .expect("the SQL rule runs");
    let rust: Vec<bool> = cases.iter().map(|(c, n)| supersedes(*c, *n)).collect();
    assert_eq!(sql.len(), 400);
    let differ: Vec<_> = cases.iter().zip(sql.iter().zip(&rust)).filter(|(_, (s, r))| s != r).collect();
    assert!(differ.is_empty(), "the rules differ on {differ:?}");
}
