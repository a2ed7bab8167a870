-- Retention deletes rule states that left their condition before its cutoff, by age.
CREATE INDEX alert_states_by_age ON alert_states (firing, since_ms);
