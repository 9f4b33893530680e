"""The README's generated parts match what generates them."""

import os
import re

from fassl_jax import config_reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_readme_config_reference_is_the_generated_one():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    block = re.search(
        r"<!-- begin config reference -->\n(.*?)<!-- end config reference -->", readme, re.S
    )
    assert block is not None, "README.md has no config reference block"
    assert block.group(1) == config_reference.reference(), (
        "README.md's config reference is stale: paste `python -m fassl_jax.config_reference`"
    )


def test_every_option_of_the_base_config_is_in_the_reference():
    from configs import base

    table = config_reference.reference()
    for section, value in base.get_config().items():
        keys = [f"{section}.{k}" for k in value] if hasattr(value, "items") else [section]
        for key in keys:
            assert f"| `{key}` |" in table, key
