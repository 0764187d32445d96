-- Sluice's sample catalog: the tables its sinks write (SLUICE_APP_MIGRATIONS=sluice_shared.catalog:migrations).
-- order.created upserts orders; order.cancelled updates its status (its own version column, so a late creation
-- never undoes a cancellation); payment.captured inserts into payments, whose foreign key waits for the order.
CREATE TABLE IF NOT EXISTS orders (
    order_id        text        PRIMARY KEY,
    customer_id     text        NOT NULL,
    currency        char(3)     NOT NULL,
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    line_count      integer     NOT NULL CHECK (line_count >= 1),
    placed_at       timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'cancelled')),
    cancel_reason   text,
    order_version   timestamptz,  -- occurred_at of the order.created that last wrote the order
    status_version  timestamptz   -- occurred_at of the order.cancelled that last wrote the status
);

CREATE TABLE IF NOT EXISTS payments (
    payment_id    text        PRIMARY KEY,
    order_id      text        NOT NULL REFERENCES orders (order_id),
    currency      char(3)     NOT NULL,
    amount_cents  bigint      NOT NULL CHECK (amount_cents >= 0),
    captured_at   timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS payments_order_id ON payments (order_id);
