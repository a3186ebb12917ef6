"""Which planned stack receives an unmanaged object, by its tags."""

from __future__ import annotations

from iacdrift.core.reconcile.receive import receiving_stack

OWNERS = {
    "staging-app": "team-storefront",
    "prod-app": "team-checkout",
    "prod-web": "team-checkout",
}


def test_the_stack_tag_names_the_receiver() -> None:
    stack, why = receiving_stack({"iacdrift:stack": "staging-app", "owner": "x"}, OWNERS)
    assert stack == "staging-app" and "iacdrift:stack=staging-app" in why


def test_a_stack_tag_naming_a_stack_not_planned_assigns_nobody() -> None:
    stack, why = receiving_stack({"iacdrift:stack": "prod-iam"}, OWNERS)
    assert stack is None and "not planned" in why


def test_a_unique_owner_receives_and_a_shared_owner_does_not() -> None:
    assert receiving_stack({"owner": "team-storefront"}, OWNERS)[0] == "staging-app"
    stack, why = receiving_stack({"owner": "team-checkout"}, OWNERS)
    assert stack is None and "prod-app, prod-web" in why


def test_no_tag_assigns_nobody() -> None:
    stack, why = receiving_stack({"created-by": "console"}, OWNERS)
    assert stack is None and "--into" in why
