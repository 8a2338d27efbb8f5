SELECT
    TO_CHAR(e.ts, 'YYYY-MM-DD HH24:MI:SS') AS "timestamp",
    e.views AS "views",
    e.revenue AS "revenue",
    p.name AS "platform",
    m.name AS "marketplace"
FROM ecommerce AS e
JOIN platform AS p ON p.id = e.platform
JOIN marketplace AS m ON m.id = e.marketplace
WHERE e.ts >= TIMESTAMP '2024-03-01 10:00:00'
  AND e.ts < TIMESTAMP '2024-03-01 11:00:00'
