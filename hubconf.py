"""torch.hub entrypoints for cvzoo: one per registered model, generated from the registry.

    torch.hub.load("cvzoo/cvzoo:main", "fcn8s", num_classes=12)
    torch.hub.load("/path/to/checkout", "lenet5", source="local", pretrained=True)

Importing this file imports only torch and the registry: nothing is downloaded at import.
"""

import zoo as _zoo

dependencies = ["torch"]


def _entrypoint(name: str):
    spec = _zoo.get_spec(name)

    def entrypoint(pretrained=False, **kwargs):
        return _zoo.create_model(name, pretrained=pretrained, **kwargs)

    c, h, w = spec.input_size
    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__doc__ = (
        f"{spec.doc}\n\n"
        f"Task: {spec.task}; input {c}x{h}x{w}; family {spec.family}.\n"
        f"Paper: {spec.paper}.\n\n"
        "Args:\n"
        "    pretrained: False (random init), True (default published weights) or a weight tag/path.\n"
        "    **kwargs: builder arguments, e.g. num_classes, in_chans."
    )
    return entrypoint


for _name in _zoo.list_models():
    globals()[_name] = _entrypoint(_name)
