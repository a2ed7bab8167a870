//! The storage contract suite on PostgreSQL, each test on a fresh schema. Skipped (with a note on
//! stderr) when `SENTINEL_TEST_DATABASE_URL` is not set, and failing in CI in that case.
#![expect(clippy::expect_used, reason = "a backend that cannot start fails the test")]

mod common;

use sentinel_store_tests::contract_tests;

contract_tests!(optional: common::harness());
