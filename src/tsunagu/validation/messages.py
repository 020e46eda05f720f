"""Bilingual issue messages (Japanese first, then English).

Messages name elements, types, codes and canonical URLs, never values taken from the
resource (they may hold personal data).
"""

from __future__ import annotations


def unknown_element(name: str) -> str:
    return f"未知の要素です: {name} / Unknown element: {name}"


def not_object(type_code: str) -> str:
    return f"JSON オブジェクトが必要です ({type_code}) / A JSON object is required ({type_code})"


def must_be_array() -> str:
    return "この要素は JSON 配列でなければなりません / This element must be a JSON array"


def must_not_be_array() -> str:
    return "この要素は配列にできません / This element must not be a JSON array"


def empty_value() -> str:
    return (
        "空の値（null, 空オブジェクト, 空配列）は使えません (ele-1) / "
        "Empty values (null, empty object, empty array) are not allowed (ele-1)"
    )


def missing(name: str, minimum: int) -> str:
    return (
        f"必須要素がありません: {name} (最小 {minimum}) / "
        f"Required element missing: {name} (min {minimum})"
    )


def too_many(name: str, count: int, maximum: int) -> str:
    return (
        f"要素の繰り返しが多すぎます: {name} ({count} 個、最大 {maximum}) / "
        f"Too many repetitions of {name} ({count}, max {maximum})"
    )


def bad_primitive(type_code: str, expected: str) -> str:
    return f"{type_code} 型の値の形式が不正です / Invalid {type_code} value: expected {expected}"


def too_long(maximum: int) -> str:
    return f"文字列が長すぎます (最大 {maximum} 文字) / String too long (max {maximum})"


def fixed_mismatch(kind: str) -> str:
    label = "固定値" if kind == "fixed" else "パターン"
    return (
        f"プロファイルが定める{label}と一致しません / "
        f"Value does not match the {kind} value required by the profile"
    )


def wrong_resource_type(expected: str) -> str:
    return f"リソース型が違います (期待: {expected}) / Wrong resource type (expected {expected})"


def unknown_resource_type() -> str:
    return (
        "resourceType がないか、R4 のリソース型ではありません / "
        "resourceType is missing or not an R4 resource type"
    )


def unknown_profile(url: str, required: bool) -> str:
    if required:
        return (
            f"指定されたプロファイルをこのサーバは知りません: {url} / "
            f"Profile not known to this server: {url}"
        )
    return (
        f"meta.profile のプロファイルはこのサーバに知られていないため検証していません: {url} / "
        f"Profile in meta.profile is not known to this server and was not checked: {url}"
    )


def profile_without_snapshot(url: str) -> str:
    return (
        f"プロファイルにスナップショットがないため検証していません: {url} / "
        f"Profile has no snapshot and was not checked: {url}"
    )


def profile_type_mismatch(url: str, profile_type: str) -> str:
    return f"プロファイル {url} は {profile_type} 用です / Profile {url} applies to {profile_type}"


def unknown_extension(url: str) -> str:
    return f"未知の拡張です（検証していません）: {url} / Unknown extension (not checked): {url}"


def extension_shape() -> str:
    return (
        "拡張は value[x] か入れ子の extension のどちらか一方だけを持ちます (ext-1) / "
        "An extension must have either a value[x] or nested extensions, not both (ext-1)"
    )


def extension_url() -> str:
    return "拡張に url がありません / Extension without url"


def extension_context(url: str) -> str:
    return f"拡張 {url} はこの場所では使えません / Extension {url} is not allowed in this context"


def no_slice_matched(element: str) -> str:
    return (
        f"{element} の値がどのスライスにも一致しません (closed スライシング) / "
        f"Value of {element} matches no slice (closed slicing)"
    )


def slice_order(element: str) -> str:
    return (
        f"{element} のスライスの順序がプロファイルと違います / "
        f"Slices of {element} are not in the order the profile defines"
    )


def slice_missing(element: str, slice_name: str, minimum: int) -> str:
    return (
        f"スライス {element}:{slice_name} が足りません (最小 {minimum}) / "
        f"Slice {element}:{slice_name} occurs too few times (min {minimum})"
    )


def slice_too_many(element: str, slice_name: str, maximum: int) -> str:
    return (
        f"スライス {element}:{slice_name} が多すぎます (最大 {maximum}) / "
        f"Slice {element}:{slice_name} occurs too many times (max {maximum})"
    )


def code_not_in_value_set(value_set: str, strength: str) -> str:
    return (
        f"コードが値セット {value_set} にありません ({strength} バインディング) / "
        f"Code is not in value set {value_set} ({strength} binding)"
    )


def invariant(key: str, human: str) -> str:
    return f"制約 {key} を満たしていません / Constraint {key} failed: {human}"


def reference_format() -> str:
    return (
        "参照の形式が不正です（相対, 絶対 URL, urn:uuid:, urn:oid:, #contained のいずれか） / "
        "Invalid reference format (relative, absolute URL, urn:uuid:, urn:oid: or #contained)"
    )


def reference_target(found: str, allowed: str) -> str:
    return (
        f"参照先の型 {found} はここでは使えません (許可: {allowed}) / "
        f"Reference to {found} is not allowed here (allowed: {allowed})"
    )


def contained_not_found() -> str:
    return (
        "#で始まる参照に対応する contained リソースがありません / "
        "No contained resource matches this #reference"
    )


def contained_nested() -> str:
    return (
        "contained リソースが contained を持つことはできません (dom-2) / "
        "A contained resource must not contain resources (dom-2)"
    )


def contained_unreferenced() -> str:
    return (
        "contained リソースがどこからも参照されていません (dom-3) / "
        "A contained resource must be referenced from elsewhere in the resource (dom-3)"
    )


def contained_meta(key: str) -> str:
    return (
        f"contained リソースは meta の versionId, lastUpdated, security を持てません ({key}) / "
        f"A contained resource must not have meta.versionId, lastUpdated or security ({key})"
    )


def primitive_extension_mismatch() -> str:
    return (
        "プリミティブ値の配列とその拡張（_ 付き）の配列の長さが違います / "
        "Primitive array and its _extension array differ in length"
    )
