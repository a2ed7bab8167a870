"""Sends one ZeroDivisionError from an in-app function to Sentinel with the official sentry-python SDK.

Driven by crates/sentinel/tests/browser.rs, which takes the DSN from the project settings page of
the dashboard and runs this twice (the second run makes the resolved issue regress):

    PYTHONPATH=.sdk/python python3 browser_error.py http://KEY@127.0.0.1:PORT/1

The error is raised in checkout_cart(), a function of this script, so the SDK marks its frame
in-app; both runs raise it on the same line and so group into one issue. The script exits 1, with
the reason on stderr, unless the server accepted exactly one event with a 2xx answer.
"""

import os
import sys

import sentry_sdk


def checkout_cart(items):
    total = sum(price for _, price in items)
    return total / len(items)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: browser_error.py DSN")
    statuses = []
    sent = []

    def before_send(event, hint):
        sent.append(event.get("event_id"))
        return event

    sentry_sdk.init(
        dsn=sys.argv[1],
        environment="browser-test",
        release="shop@2.0.0",
        before_send=before_send,
        default_integrations=False,
        # This directory is the application: its frames are in-app whatever the working directory.
        project_root=os.path.dirname(os.path.abspath(__file__)),
        debug=True,  # the SDK's log on stderr, shown by the test when this fails
    )
    transport = sentry_sdk.get_client().transport
    request = transport._request

    def request_hook(method, endpoint_type, body, headers):
        try:
            response = request(method, endpoint_type, body, headers)
        except Exception as e:
            statuses.append(repr(e))
            raise
        statuses.append(response.status)
        return response

    transport._request = request_hook

    try:
        checkout_cart([])
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=15)

    if len(sent) != 1 or len(statuses) != 1 or not str(statuses[0]).startswith("2"):
        sys.exit(f"expected one event accepted with 2xx; sent {sent}, answers {statuses}")
    print(f"sent event {sent[0]}, answered {statuses[0]}")


if __name__ == "__main__":
    main()
