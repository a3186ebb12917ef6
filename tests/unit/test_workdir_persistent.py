"""Persistent working copies, the stack digest that keys them, the HCL parse cache
and the framing of the embedded engine's batch output (plain files, no Terraform:
tests/integration/test_engine.py runs the real thing)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from iacdrift.engine import worker
from iacdrift.engine.workspace import (
    persistent_copy,
    prune_copies,
    slot_name,
    stack_digest,
)
from iacdrift.loaders.stack_hcl import parse_hcl


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    root = tmp_path / "repo" / "stacks" / "app"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(
        'module "b" {\n  source = "../../modules/b"\n}\n', encoding="utf-8"
    )
    module = tmp_path / "repo" / "modules" / "b"
    module.mkdir(parents=True)
    (module / "main.tf").write_text('output "y" {\n  value = 1\n}\n', encoding="utf-8")
    return root


def fake_init(path: Path, *, provider_target: Path | None = None) -> None:
    """What init leaves behind that matters here: .terraform/ with provider links."""
    providers = path / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp"
    providers.mkdir(parents=True)
    if provider_target is not None:
        (providers / "aws").symlink_to(provider_target)
    (path / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")


def test_a_fresh_copy_then_the_same_copy_while_the_key_holds(stack: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with persistent_copy(stack, cache, "app", "key-1") as first:
        assert not first.initialised
        assert (first.path / "main.tf").read_text(encoding="utf-8").startswith('module "b"')
        # The local module sits at the same relative place as in the repository.
        assert (first.path / "../../modules/b/main.tf").resolve().is_file()
        fake_init(first.path)
        first.mark_initialised()
    with persistent_copy(stack, cache, "app", "key-1") as second:
        assert second.initialised
        assert second.path == first.path
        assert (second.path / ".terraform.lock.hcl").is_file()
    with persistent_copy(stack, cache, "app", "key-2") as third:
        assert not third.initialised
        assert not (third.path / ".terraform").exists()


def test_an_uninitialised_copy_is_never_reused(stack: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with persistent_copy(stack, cache, "app", "k") as first:
        (first.path / "stray.txt").write_text("x", encoding="utf-8")
    with persistent_copy(stack, cache, "app", "k") as second:
        assert not second.initialised
        assert not (second.path / "stray.txt").exists()


def test_invalidate_forgets_the_init(stack: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with persistent_copy(stack, cache, "app", "k") as first:
        fake_init(first.path)
        first.mark_initialised()
        first.invalidate()
        assert not first.initialised
    with persistent_copy(stack, cache, "app", "k") as second:
        assert not second.initialised


def test_a_provider_link_into_an_emptied_plugin_cache_means_a_new_copy(
    stack: Path, tmp_path: Path
) -> None:
    cache, plugin = tmp_path / "cache", tmp_path / "plugin-cache" / "aws"
    plugin.mkdir(parents=True)
    with persistent_copy(stack, cache, "app", "k") as first:
        fake_init(first.path, provider_target=plugin)
        first.mark_initialised()
    with persistent_copy(stack, cache, "app", "k") as second:
        assert second.initialised
    plugin.rmdir()
    with persistent_copy(stack, cache, "app", "k") as third:
        assert not third.initialised


def test_plan_and_state_files_never_outlive_the_block(stack: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with persistent_copy(stack, cache, "app", "k") as first:
        fake_init(first.path)
        first.mark_initialised()
        for name in ("iacdrift.tfplan", "terraform.tfstate", "terraform.tfstate.backup"):
            (first.path / name).write_text("secret", encoding="utf-8")
        backend = first.path / ".terraform" / "terraform.tfstate"
        backend.write_text("{}", encoding="utf-8")
    left = sorted(p.name for p in first.path.iterdir())
    assert left == [".terraform", ".terraform.lock.hcl", "main.tf"]
    # Init's record of the backend settings stays: it is what lets init be skipped.
    assert backend.is_file()


def test_a_reused_copy_links_its_variable_files_and_keeps_no_copy(
    stack: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    source = stack / "terraform.tfvars"
    source.write_text('token = "s3cret"\n', encoding="utf-8")
    with persistent_copy(stack, cache, "app", "k") as first:
        linked = first.path / "terraform.tfvars"
        assert linked.is_symlink() and linked.readlink() == source.resolve()
        fake_init(first.path)
        first.mark_initialised()
        # What an earlier iacdrift left: a copy of the file, not a link.
        linked.unlink()
        linked.write_text('token = "s3cret"\n', encoding="utf-8")
    # Given back: the copy of the variable file is gone, the rest of the copy stays.
    assert not linked.exists() and (first.path / "main.tf").is_file()
    with persistent_copy(stack, cache, "app", "k") as second:
        assert second.initialised  # no init: the key still matched
        assert linked.is_symlink() and linked.read_text(encoding="utf-8") == 'token = "s3cret"\n'
    stored = [
        p
        for p in cache.rglob("*")
        if p.is_file() and not p.is_symlink() and b"s3cret" in p.read_bytes()
    ]
    assert stored == []


def test_copies_are_private(stack: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with persistent_copy(stack, cache, "app", "k") as first:
        assert cache.stat().st_mode & 0o777 == 0o700
        assert first.slot.stat().st_mode & 0o777 == 0o700


def test_one_copy_is_held_by_one_user_at_a_time(stack: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    events: list[str] = []
    inside = threading.Event()

    def hold() -> None:
        with persistent_copy(stack, cache, "app", "k"):
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    with persistent_copy(stack, cache, "app", "k"):
        events.append("second in")
    holder.join()
    assert events == ["first in", "first out", "second in"]


def test_two_stacks_of_the_same_name_get_two_copies(tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "app", tmp_path / "b" / "app"
    for directory in (one, two):
        directory.mkdir(parents=True)
        (directory / "main.tf").write_text(f"# {directory}\n", encoding="utf-8")
    cache = tmp_path / "cache"
    with persistent_copy(one, cache, "app", "k") as first:
        first_path = first.path
    with persistent_copy(two, cache, "app", "k") as second:
        assert second.path != first_path
        assert str(two) in (second.path / "main.tf").read_text(encoding="utf-8")


def test_digest_follows_the_stack_and_its_modules_only(stack: Path, tmp_path: Path) -> None:
    before = stack_digest(stack)
    assert stack_digest(stack) == before
    # Terraform's own files in the user's directory are not part of the copy.
    (stack / ".terraform").mkdir()
    (stack / ".terraform" / "x").write_text("x", encoding="utf-8")
    (stack / "terraform.tfstate").write_text("{}", encoding="utf-8")
    assert stack_digest(stack) == before
    module_file = tmp_path / "repo" / "modules" / "b" / "main.tf"
    module_file.write_text('output "y" {\n  value = 2\n}\n', encoding="utf-8")
    changed = stack_digest(stack)
    assert changed != before
    (stack / "vars.auto.tfvars").write_text('a = "b"\n', encoding="utf-8")
    assert stack_digest(stack) not in {before, changed}


def test_parse_cache_sees_an_edited_file(tmp_path: Path) -> None:
    path = tmp_path / "main.tf"
    path.write_text('output "x" {\n  value = 1\n}\n', encoding="utf-8")
    first = parse_hcl(path)
    assert parse_hcl(path) is first
    # Same size, written at once: file times may not tell the two apart.
    path.write_text('output "x" {\n  value = 2\n}\n', encoding="utf-8")
    assert parse_hcl(path)["output"][0]['"x"']["value"] == 2


def test_batch_output_is_read_back_exactly() -> None:
    plan_json = '{"a": "line\\nwith \\"quotes\\"", "b": "é"}'
    text = (
        '[{"code": 0, "seconds": 1.5, "stdout": 5, "stderr": 0},'
        f' {{"code": 2, "seconds": 0.5, "stdout": {len(plan_json)}, "stderr": 3}}]\n'
        f"hello{plan_json}err"
    )
    assert worker.read_batch(text) == [(0, 1.5, "hello", ""), (2, 0.5, plan_json, "err")]


def test_batch_output_that_does_not_match_its_header_is_refused() -> None:
    with pytest.raises(ValueError):
        worker.read_batch('[{"code": 0, "seconds": 1, "stdout": 9, "stderr": 0}]\nshort')
    with pytest.raises(ValueError):
        worker.read_batch("Go panic: something\n")


def test_a_copy_whose_seed_failed_is_not_seeded_again_while_its_key_holds(
    stack: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with persistent_copy(stack, cache, "app", "key-1") as first:
        assert first.seedable
        first.refuse_seeding()
        assert not first.seedable
    with persistent_copy(stack, cache, "app", "key-1") as second:
        assert not second.initialised
        assert not second.seedable
    with persistent_copy(stack, cache, "app", "key-2") as third:
        assert third.seedable  # another key: another copy, seeded again


def test_copies_of_unregistered_stacks_unused_for_long_are_pruned(
    stack: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    for name in ("kept", "old", "recent", "busy"):
        with persistent_copy(stack, cache, name, "k"):
            pass
    slots = {name: slot_name(name, stack) for name in ("kept", "old", "recent", "busy")}
    now = time.time()
    week = 7 * 24 * 3600.0
    for name in ("kept", "old", "busy"):
        lock = cache / f"{slots[name]}.lock"
        os.utime(lock, (now - 2 * week, now - 2 * week))
    holder = (cache / f"{slots['busy']}.lock").open("a")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    try:
        removed = prune_copies(cache, {slots["kept"]}, unused_for=week, now=now)
    finally:
        holder.close()
    assert removed == [slots["old"]]
    assert not (cache / slots["old"]).exists()
    assert (cache / f"{slots['old']}.lock").exists()  # never unlinked
    for name in ("kept", "recent", "busy"):
        assert (cache / slots[name]).is_dir()
    # Used again: a fresh copy in the same slot, and recent use keeps it; the busy
    # one is free now and goes.
    with persistent_copy(stack, cache, "old", "k") as again:
        assert not again.initialised
    assert prune_copies(cache, {slots["kept"]}, unused_for=week, now=time.time()) == [slots["busy"]]
