"""Lambda and Vast are packages now: every public name of the single modules they were still
imports from the same place, and ``atlas_nb.providers.vast_query`` is the query module."""

from __future__ import annotations

import importlib
import warnings

import pytest

OLD_NAMES = {
    "atlas_nb.providers.lambda_cloud": [
        "FILE_SYSTEM_COLUMNS",
        "OPTS",
        "SSH_KEY_COLUMNS",
        "STATUS_MAP",
        "TAG_CREATED",
        "TAG_IMAGE",
        "TAG_KEY_MAX",
        "TAG_PORTS",
        "TAG_VALUE_MAX",
        "LambdaProvider",
        "SSHKey",
        "add_ssh_key",
        "add_ssh_key_async",
        "capacity_message",
        "check_tags",
        "cloud_init",
        "create_file_system",
        "create_file_system_async",
        "delete_file_system",
        "delete_file_system_async",
        "delete_ssh_key",
        "delete_ssh_key_async",
        "file_systems",
        "file_systems_async",
        "gpu_types_from_catalogue",
        "instance_fields",
        "instance_ports",
        "lambda_status",
        "matching_types",
        "offer_rows",
        "parse_type_name",
        "ports_ruleset",
        "ssh_keys",
        "ssh_keys_async",
        "tag_dict",
        "vram_from_description",
    ],
    "atlas_nb.providers.vast": [
        "DEFAULT_DISK_GB",
        "MB_PER_GB",
        "OPTS",
        "PORTS_ENV",
        "OfferType",
        "VastProvider",
        "build_query",
        "country",
        "env_flags",
        "gpu_types_from_offers",
        "instance_fields",
        "instance_ports",
        "label",
        "label_async",
        "mb_to_gb",
        "offer_prices",
        "offer_row",
        "offer_rows",
        "refused",
        "search_offers",
        "search_offers_async",
        "vast_status",
    ],
}


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_every_old_name_still_imports_without_a_warning(module):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        package = importlib.import_module(module)
        missing = [n for n in OLD_NAMES[module] if getattr(package, n, None) is None]
    assert not missing


def test_an_unknown_name_is_still_an_attribute_error():
    from atlas_nb.providers import lambda_cloud

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lambda_cloud.nope  # noqa: B018


def test_vast_query_is_the_query_module_under_its_old_name():
    from atlas_nb.providers import vast_query
    from atlas_nb.providers.vast import query

    assert vast_query.__all__
    for name in vast_query.__all__:
        assert getattr(vast_query, name) is getattr(query, name), name
    assert {"SEARCH_FIELDS", "build_query", "country", "vast_gpu_names"} <= set(vast_query.__all__)


def test_the_registry_still_finds_both():
    from atlas_nb.providers import resolve_provider_class

    assert resolve_provider_class("lambda").__module__ == "atlas_nb.providers.lambda_cloud.provider"
    assert resolve_provider_class("vast").__module__ == "atlas_nb.providers.vast.provider"
