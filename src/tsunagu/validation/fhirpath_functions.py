"""FHIRPath functions of the compiled subset (`where`, `exists`, `matches`, `resolve` ...)."""

from __future__ import annotations

import re

from tsunagu.validation.fhirpath_ops import (
    Collection,
    Env,
    Fn,
    Unsupported,
    boolean,
    children,
    equal,
    is_,
    of_type,
    to_bool,
)


def string_fn(items: Collection) -> str | None:
    return items[0] if len(items) == 1 and isinstance(items[0], str) else None


def function(name: str, args: list[Fn], type_name: str | None) -> Fn:
    if name == "ofType" or name == "as":
        assert type_name is not None
        return of_type(type_name)
    if name == "is":
        assert type_name is not None
        return is_(type_name)
    if name == "empty":
        return lambda c, e: [not c]
    if name == "exists":
        if args:
            criteria = args[0]
            return lambda c, e: [any(boolean(criteria, [i], e) for i in c)]
        return lambda c, e: [bool(c)]
    if name == "not":
        return lambda c, e: [] if to_bool(c) is None else [not to_bool(c)]
    if name == "count":
        return lambda c, e: [len(c)]
    if name == "hasValue":
        return lambda c, e: [len(c) == 1 and not isinstance(c[0], dict)]
    if name == "where":
        criteria = args[0]
        return lambda c, e: [i for i in c if boolean(criteria, [i], e)]
    if name == "select":
        projection = args[0]
        return lambda c, e: [v for i in c for v in projection([i], e)]
    if name == "all":
        criteria = args[0]
        return lambda c, e: [all(to_bool(criteria([i], e)) for i in c)]
    if name == "first":
        return lambda c, e: c[:1]
    if name == "last":
        return lambda c, e: c[-1:]
    if name == "tail":
        return lambda c, e: c[1:]
    if name == "single":
        return lambda c, e: c if len(c) <= 1 else []
    if name == "distinct":
        return lambda c, e: distinct(c)
    if name == "isDistinct":
        return lambda c, e: [len(distinct(c)) == len(c)]
    if name in ("union", "combine", "intersect", "exclude"):
        other = args[0]

        def combine(items: Collection, env: Env) -> Collection:
            right = other(items, env)
            if name == "combine":
                return items + right
            if name == "union":
                return distinct(items + right)
            if name == "intersect":
                return distinct([i for i in items if any(equal(i, r) for r in right)])
            return [i for i in items if not any(equal(i, r) for r in right)]

        return combine
    if name == "iif":
        condition, then = args[0], args[1]
        otherwise = args[2] if len(args) > 2 else (lambda c, e: [])
        return lambda c, e: then(c, e) if to_bool(condition(c, e)) else otherwise(c, e)
    if name == "extension":
        url_fn = args[0]

        def extension(items: Collection, env: Env) -> Collection:
            url = string_fn(url_fn(items, env))
            return [
                x
                for i in items
                for x in children(i, "extension")
                if isinstance(x, dict) and x.get("url") == url
            ]

        return extension
    if name in ("matches", "startsWith", "endsWith", "contains", "indexOf"):
        return _string_function(name, args[0])
    if name == "substring":
        start_fn = args[0]
        length_fn = args[1] if len(args) > 1 else None

        def substring(items: Collection, env: Env) -> Collection:
            text = string_fn(items)
            start = start_fn(items, env)
            if text is None or not start or not isinstance(start[0], int):
                return []
            begin = start[0]
            if begin < 0 or begin >= len(text):
                return []
            if length_fn is None:
                return [text[begin:]]
            size = length_fn(items, env)
            return [text[begin : begin + size[0]]] if size else [text[begin:]]

        return substring
    if name == "length":
        return lambda c, e: [len(c[0])] if len(c) == 1 and isinstance(c[0], str) else []
    if name in ("lower", "upper"):
        return lambda c, e: [getattr(v, name)() for v in c if isinstance(v, str)]
    if name == "toString":
        return lambda c, e: [str(v) for v in c[:1]]
    if name == "trace":
        return lambda c, e: c
    if name == "htmlChecks":
        return lambda c, e: [True]
    if name == "resolve":

        def resolve(items: Collection, env: Env) -> Collection:
            out = []
            for item in items:
                reference = item.get("reference") if isinstance(item, dict) else item
                if isinstance(reference, str):
                    target = env.resolve(reference)
                    if target is not None:
                        out.append(target)
            return out

        return resolve
    if name == "conformsTo":
        url_fn = args[0]

        def conforms(items: Collection, env: Env) -> Collection:
            url = string_fn(url_fn(items, env))
            if url is None or len(items) != 1:
                return []
            return [env.conforms(items[0], url)]

        return conforms
    if name == "memberOf":
        url_fn = args[0]

        def member_of(items: Collection, env: Env) -> Collection:
            url = string_fn(url_fn(items, env))
            if url is None or len(items) != 1:
                return []
            result = env.member_of(items[0], url)
            return [] if result is None else [result]

        return member_of
    if name == "allTrue":
        return lambda c, e: [all(v is True for v in c)]
    if name == "anyTrue":
        return lambda c, e: [any(v is True for v in c)]
    raise Unsupported(f"function {name}()")


def _string_function(name: str, argument: Fn) -> Fn:
    pattern = getattr(argument, "literal", None)
    if name == "matches" and isinstance(pattern, str):
        try:
            regex = re.compile(pattern, re.DOTALL)
        except re.error:
            pass  # raised again when evaluated (the invariant is then skipped)
        else:

            def matches(items: Collection, env: Env) -> Collection:
                text = string_fn(items)
                return [] if text is None else [regex.search(text) is not None]

            return matches

    def string_function(items: Collection, env: Env) -> Collection:
        text = string_fn(items)
        other = string_fn(argument(items, env))
        if text is None or other is None:
            return []
        if name == "matches":
            return [re.search(other, text, re.DOTALL) is not None]
        if name == "startsWith":
            return [text.startswith(other)]
        if name == "endsWith":
            return [text.endswith(other)]
        if name == "contains":
            return [other in text]
        return [text.find(other)]

    return string_function


def distinct(items: Collection) -> Collection:
    out: Collection = []
    for item in items:
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out
