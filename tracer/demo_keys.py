"""The example brands' API keys are published (`demo-key-<brand id>`, in the repository and
its docs): whoever reads them may act as the brand. They are honoured only in development
mode (`TRACER_DEV_MODE=1`, which `just run` sets on the example brands)."""

from __future__ import annotations

import hashlib

DEMO_KEY_PREFIX = "demo-key-"
# SHA-256 of the keys config/brands.example.toml lists (tests/test_demo_keys.py holds this
# equal to the file): a brands file copied from it keeps them under any brand id.
EXAMPLE_KEY_SHA256 = frozenset(
    {
        "080fba3128642ca5520c52036c4c20d64dadac007e8a6ee08845ece4dfa46c7c",
        "0827fecb06bd3fdab05bed1c87f8c5827a3554aae4eebfa7683245dd16d70355",
        "27850f8b830a0e758f252a0470a654ad15fe3e8e31ff68879f9da3b70b674283",
        "29b5043be8424be1121ac0f5263b9b1faf817f448500ca72062a0d22c44377f7",
        "56f42c3bf467e18959222d40a52da6d7885325617c7f40b9ec4b4aff26da4c26",
        "5b5b3b2e5cad72fc8a7442b176f7bfb977a166e1116825b91e53c92be571c02c",
        "6201e9e5c88efb04d7392b38ffc9101a159e3fe6090e50f34db8438c34f80188",
        "625c3003689982101217d034204633b6d8a8f4631c482bff02cddc3e4786e406",
        "66ee9ea5563d2818a60f1b2ec2ea5847b1d42b2066af7400d2aefda1666f048b",
        "6b123e1d68a7a23588f31bebb5fc0b0433f1c0ba83275bee45da8e97581d4647",
        "7b13bfbb1e6ddfdb8b0cb6a9a08c8f4b66fd3107504020120f00c908d6a05c1d",
        "853ce7e571876c326e28489396599c7e8ead3cd282a6a2c6cdee7c87fd0d0d78",
        "878fcb44051e99b970e030f57d1d5baa5aa4fd4d4240513c6c0a95176b0846d3",
        "9f18b0085eddfdf002536231ff4886aca88de1f91e0a66091d0da848a806bcfe",
        "b80ff5c180a177b5e7013ccf0565b895b21d789a21583aeb963014264fc2b719",
        "bce97e165157797f24c56da28a19afeba09b136497e96950fd70fdbc94a53bf6",
        "bf1db102b65798d7fd1260948e7ed510cd594cbc4a6edf04acf3a2e0a629c3fb",
        "d48651fd4836b9d705d3cdee1ca6b5bf83853f590c57b6e0cdee72651d5408ca",
        "dc0b8fa0d746a4d1f285af5867da3e27f715e8a10f7d0f26603e0ba2b04fc1fb",
        "dd9ce58fc3adf52dc255bed6ee1022acdab9d3806cdc4232ea610345ef7c1b34",
        "e1f47906f6d6d3636713fcde37ddb6cb3faa6097fb7e2bbbe46984b1b228eab1",
        "f502794e5e7782f411e1d59aea7b66672b0f4de0d196c977b26644c044ee5a83",
    }
)
DEV_MODE_HINT = (
    "published demo keys work only in development mode (TRACER_DEV_MODE=1); "
    "give each brand a key of its own (docs/api.md, Authentication)"
)


def is_demo_key(brand_id: str, sha256_hex: str) -> bool:
    """True for a published key: one of the example file's, or `demo-key-<brand id>`."""
    digest = sha256_hex.lower()
    if digest in EXAMPLE_KEY_SHA256:
        return True
    return digest == hashlib.sha256(f"{DEMO_KEY_PREFIX}{brand_id}".encode()).hexdigest()
