"""ImageNet classes for BigGAN-deep's class edits: the car shortlist first, then any of the 1000.

Names come from torchvision's ImageNet-1k category list (`ResNet50_Weights…meta["categories"]`,
the standard index order BigGAN was trained with), read when first needed.
"""

from __future__ import annotations

import functools

# Car body types an artist may turn a photo's car into (Fig. 4.4's class edit), in picker order.
CAR_SHORTLIST: tuple[int, ...] = (817, 511, 609, 627, 656, 717, 468, 436)
DEFAULT_CLASS = 817  # sports car: the photos are cars (a generator with other classes: class 0)


@functools.cache
def imagenet_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names by index ('sports car' = 817)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def class_name(index: int, num_classes: int = 1000) -> str:
    """'817 sports car'; a generator with another class count (a demo) shows the bare index."""
    if num_classes == 1000 and 0 <= index < 1000:
        return f"{index} {imagenet_names()[index]}"
    return f"class {index}"


def search_classes(query: str, num_classes: int = 1000) -> list[int]:
    """Classes whose index or name contains `query` (case-insensitive), the car shortlist first;
    an empty query lists the shortlist (the picker's first view)."""
    q = query.strip().lower()
    if num_classes != 1000:
        return [i for i in range(num_classes) if not q or q in str(i)]
    if not q:
        return list(CAR_SHORTLIST)
    names = imagenet_names()
    hits = [i for i in range(1000) if q == str(i) or q in names[i].lower()]

    def rank(i: int) -> tuple[bool, int, int]:
        words = names[i].lower().replace("-", " ").split()
        fit = 0 if q in words or q == str(i) else 1 if any(w.startswith(q) for w in words) else 2
        return (i not in CAR_SHORTLIST, fit, CAR_SHORTLIST.index(i) if i in CAR_SHORTLIST else i)

    return sorted(hits, key=rank)  # shortlist, then whole-word, word-start, anywhere


def parse_class(text: str | int | None, num_classes: int = 1000) -> int:
    """'511', 'convertible' or 'Sports Car' → the class index (None: the default class); a clear error otherwise."""
    if text is None:
        return DEFAULT_CLASS if num_classes == 1000 else 0
    if isinstance(text, int) or str(text).strip().isdigit():
        index = int(text)
        if not 0 <= index < num_classes:
            raise ValueError(f"class {index} is not one of this generator's {num_classes} classes (0…{num_classes - 1})")
        return index
    name = str(text).strip().lower().replace("-", " ").replace("_", " ")
    if num_classes == 1000:
        exact = [i for i, n in enumerate(imagenet_names()) if n.lower() == name]
        if exact:
            return exact[0]
        near = search_classes(name)
        hint = f"; did you mean {', '.join(class_name(i) for i in near[:3])}?" if near else ""
        raise ValueError(f"no ImageNet class is called {text!r}{hint}")
    raise ValueError(f"this generator's classes are numbered 0…{num_classes - 1}; got {text!r}")
