"""Which planned stack receives an unmanaged object, by its tags."""

from __future__ import annotations

from iacdrift.core.reconcile.receive import receiving_stack

OWNERS = {
    "staging-app": "team-storefront",
    "prod-app": "team-checkout",
    "prod-web": "team-checkout",
    "prod-iam": "platform-identity",
}
PLANNED = {"staging-app", "prod-app", "prod-web"}


def test_the_stack_tag_names_the_receiver() -> None:
    tags = {"iacdrift:stack": "staging-app", "owner": "x"}
    stack, why = receiving_stack(tags, OWNERS, PLANNED)
    assert stack == "staging-app" and "iacdrift:stack=staging-app" in why


def test_a_stack_tag_naming_a_stack_not_planned_or_unknown_assigns_nobody() -> None:
    stack, why = receiving_stack({"iacdrift:stack": "prod-iam"}, OWNERS, PLANNED)
    assert stack is None and "not planned: plan it too" in why
    stack, why = receiving_stack({"iacdrift:stack": "nope"}, OWNERS, PLANNED)
    assert stack is None and "no registered stack" in why


def test_a_unique_owner_receives_and_a_shared_owner_does_not() -> None:
    assert receiving_stack({"owner": "team-storefront"}, OWNERS, PLANNED)[0] == "staging-app"
    stack, why = receiving_stack({"owner": "team-checkout"}, OWNERS, PLANNED)
    assert stack is None and "prod-app, prod-web" in why


def test_the_owner_rule_looks_at_the_whole_registry_not_the_selection() -> None:
    # team-checkout owns two stacks: planning only one of them does not make it unique.
    stack, _ = receiving_stack({"owner": "team-checkout"}, OWNERS, {"prod-app"})
    assert stack is None
    stack, why = receiving_stack({"owner": "platform-identity"}, OWNERS, PLANNED)
    assert stack is None and "prod-iam, not planned" in why


def test_no_tag_assigns_nobody() -> None:
    stack, why = receiving_stack({"created-by": "console"}, OWNERS, PLANNED)
    assert stack is None and "--into" in why
