"""The job spec (cjsl XML) as Cuebot's JobSpec reads it: DTD validation, name rules, layer
defaults, frame ranges and chunks.

Cuebot parses with a validating SAX builder against the DTD its DOCTYPE names
(``http://localhost:8080/spcue/dtd/cjsl-<version>.dtd``, served from its own resources); a spec
without a DOCTYPE, or naming a DTD it does not ship, is refused. lxml is not installed here and
OpenCue's DTD files cannot be vendored into this repository, so ``CONTENT_MODELS`` restates the
element declarations of cjsl 1.10-1.15 (the versions pyoutline writes; it defaults to 1.15) and
``validate`` checks a document against them the way a validating parser does: every element
declared, children in the declared order and multiplicity, text only where #PCDATA is allowed,
required attributes present, enumerated attributes in their enumeration, NMTOKEN attributes
name tokens (after XML's trimming of tokenized values). Numbers are read as Java reads them
(``java_int``, ``java_long``, ``java_double``): Python's int() and float() accept more.
"""
import re
import xml.etree.ElementTree as ElementTree

DTD_URL = "http://localhost:8080/spcue/dtd/"

_TEXT = "#PCDATA"

# cjsl 1.15's element declarations: element -> content model (a regular expression over the
# child element names) or _TEXT. Older versions differ only as listed in _VERSION_CHANGES.
_MODELS_1_15 = {
    "spec": "facility? dept? show shot user email? uid? job* depends*",
    "facility": _TEXT, "dept": _TEXT, "show": _TEXT, "shot": _TEXT, "user": _TEXT,
    "email": _TEXT, "uid": _TEXT,
    "job": "paused? priority? maxretries? maxcores? maxgpus? autoeat? localbook? os? env* layers?",
    "paused": _TEXT, "priority": _TEXT, "maxretries": _TEXT, "maxcores": _TEXT,
    "maxgpus": _TEXT, "autoeat": _TEXT, "os": _TEXT, "localbook": _TEXT,
    "layers": "layer+",
    "layer": ("cmd range chunk cores? threadable? memory? gpus? gpu? gpu_memory? timeout? "
              "timeout_llu? tags? limits? env* services? outputs*"),
    "cmd": _TEXT, "range": _TEXT, "chunk": _TEXT, "cores": _TEXT, "threadable": _TEXT,
    "memory": _TEXT, "gpus": _TEXT, "gpu": _TEXT, "gpu_memory": _TEXT, "timeout": _TEXT,
    "timeout_llu": _TEXT, "tags": _TEXT,
    "limits": "limit+", "services": "service+", "outputs": "output*", "env": "key*",
    "service": _TEXT, "output": _TEXT, "limit": _TEXT, "key": _TEXT,
    "depends": "depend*",
    "depend": "depjob deplayer? depframe? onjob onlayer? onframe?",
    "depjob": _TEXT, "onjob": _TEXT, "deplayer": _TEXT, "onlayer": _TEXT, "depframe": _TEXT,
    "onframe": _TEXT,
}

_DEPEND_TYPES = ("LAYER_ON_SIM_FRAME", "PREVIOUS_FRAME", "JOB_ON_JOB", "JOB_ON_LAYER",
                 "JOB_ON_FRAME", "LAYER_ON_JOB", "LAYER_ON_FRAME", "LAYER_ON_LAYER",
                 "FRAME_ON_JOB", "FRAME_ON_LAYER", "FRAME_ON_FRAME", "FRAME_BY_FRAME")

# element -> {attribute: (required, allowed values, or NMTOKEN)}; cjsl 1.10-1.15 declare
# no CDATA attribute: every attribute is a name token or one of an enumeration.
NMTOKEN = "NMTOKEN"
_ATTRIBUTES = {
    "job": {"name": (True, NMTOKEN)},
    "localbook": {"host": (True, NMTOKEN), "cores": (True, NMTOKEN),
                  "memory": (True, NMTOKEN), "threads": (True, NMTOKEN),
                  "gpu": (True, NMTOKEN)},
    "layer": {"name": (True, NMTOKEN), "type": (True, ("Render", "Util", "Post"))},
    "output": {"name": (True, NMTOKEN)},
    "key": {"name": (True, NMTOKEN)},
    "depend": {"anyframe": (False, NMTOKEN), "type": (True, _DEPEND_TYPES)},
}

# XML 1.0 (fifth edition) NameChar: what an NMTOKEN is made of. The JDK's Xerces checks
# XML 1.0 documents against the older (fourth edition) tables, which differ only in rare
# letters outside these scripts' common ranges.
_NMTOKEN = re.compile(
    "[-.0-9:A-Z_a-z\u00B7\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u037D\u037F-\u1FFF"
    "\u200C\u200D\u203F\u2040\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF"
    "\uF900-\uFDCF\uFDF0-\uFFFD\U00010000-\U000EFFFF]+\\Z")

# What each older version lacks or declares differently, relative to the next one up.
_VERSION_CHANGES = {
    "1.14": {"onframe": None},  # 1.14 names onframe in depend's model but never declares it
    "1.13": {"layer": ("cmd range chunk cores? threadable? memory? gpus? gpu? gpu_memory? "
                       "timeout? timeout_llu? tags? limits? env* services?"),
             "outputs": None, "output": None},
    "1.12": {"job": "paused? priority? maxretries? autoeat? localbook? os? env* layers?",
             "maxcores": None, "maxgpus": None},
    "1.11": {"layer": ("cmd range chunk cores? threadable? memory? gpu? timeout? timeout_llu? "
                       "tags? limits? env* services?"),
             "gpus": None, "gpu_memory": None},
    "1.10": {"job": "paused? maxretries? autoeat? localbook? os? env* layers?",
             "priority": None},
}
SUPPORTED_VERSIONS = ("1.10", "1.11", "1.12", "1.13", "1.14", "1.15")


def content_models(version):
    """The element declarations of cjsl ``version``."""
    models = dict(_MODELS_1_15)
    for older in ("1.14", "1.13", "1.12", "1.11", "1.10"):
        if _version_key(version) > _version_key(older):
            break
        for name, model in _VERSION_CHANGES[older].items():
            if model is None:
                models.pop(name, None)
            else:
                models[name] = model
    return models


def _version_key(version):
    return tuple(int(part) for part in version.split("."))


class SpecError(Exception):
    """What Cuebot's SpecBuilderException / launch errors say."""


_DOCTYPE = re.compile(r'<!DOCTYPE\s+(\w+)\s+(?:PUBLIC\s+"[^"]*"|SYSTEM)\s+"([^"]+)"\s*>')


def parse(xml_text):
    """Parse and validate ``xml_text``; return the root element."""
    match = _DOCTYPE.search(xml_text)
    if not match:
        raise SpecError("Failed to parse job spec XML, Document is invalid: no grammar found.")
    root_name, system_id = match.groups()
    if not system_id.startswith(DTD_URL):
        raise SpecError("Failed to parse job spec XML, the DTD %s cannot be fetched" % system_id)
    filename = system_id[len(DTD_URL):]
    version = re.match(r"cjsl-(\d+\.\d+)\.dtd$", filename)
    if not version or version.group(1) not in SUPPORTED_VERSIONS:
        raise SpecError("Failed to redirect DTD %s (the fake Cuebot knows cjsl %s)"
                        % (system_id, ", ".join(SUPPORTED_VERSIONS)))
    try:
        root = ElementTree.fromstring(xml_text.encode("utf-8"))
    except ElementTree.ParseError as error:
        raise SpecError("Failed to parse job spec XML, %s" % error)
    if root.tag != root_name:
        raise SpecError("Failed to parse job spec XML, Document root element \"%s\", must "
                        "match DOCTYPE root \"%s\"." % (root.tag, root_name))
    validate(root, content_models(version.group(1)))
    return root


def validate(element, models):
    """Check ``element`` and its descendants against the declarations in ``models``."""
    model = models.get(element.tag)
    if model is None:
        raise SpecError("Failed to parse job spec XML, Element type \"%s\" must be declared."
                        % element.tag)
    for name, (required, allowed) in _ATTRIBUTES.get(element.tag, {}).items():
        value = element.get(name)
        if value is None:
            if required:
                raise SpecError("Failed to parse job spec XML, Attribute \"%s\" is required and "
                                "must be specified for element type \"%s\"." % (name, element.tag))
            continue
        # A tokenized attribute's value loses its leading and trailing spaces (XML 1.0 3.3.3).
        value = re.sub(" {2,}", " ", value.strip(" "))
        element.set(name, value)
        if allowed == NMTOKEN:
            if not _NMTOKEN.match(value):
                raise SpecError("Failed to parse job spec XML, Attribute value \"%s\" of type "
                                "NMTOKEN must be a name token." % value)
        elif value not in allowed:
            raise SpecError("Failed to parse job spec XML, Attribute \"%s\" with value \"%s\" "
                            "must have a value from the list \"%s\"."
                            % (name, value, " ".join(allowed)))
    for name in element.attrib:
        if name not in _ATTRIBUTES.get(element.tag, {}):
            raise SpecError("Failed to parse job spec XML, Attribute \"%s\" must be declared "
                            "for element type \"%s\"." % (name, element.tag))
    children = list(element)
    for child in children:   # a validating parser meets an undeclared start tag first
        if child.tag not in models:
            raise SpecError("Failed to parse job spec XML, Element type \"%s\" must be "
                            "declared." % child.tag)
    if model == _TEXT:
        if children:
            raise SpecError("Failed to parse job spec XML, The content of element type \"%s\" "
                            "must match \"(#PCDATA)*\"." % element.tag)
        return
    if (element.text or "").strip() or any((child.tail or "").strip() for child in children):
        raise SpecError("Failed to parse job spec XML, The content of element type \"%s\" must "
                        "match \"(%s)\"." % (element.tag, model))
    pattern = "".join("(?:%s )%s" % (token.rstrip("?*+"), token[len(token.rstrip("?*+")):])
                      for token in model.split())
    if not re.fullmatch(pattern, "".join(child.tag + " " for child in children)):
        raise SpecError("Failed to parse job spec XML, The content of element type \"%s\" must "
                        "match \"(%s)\"." % (element.tag, ",".join(model.split())))
    for child in children:
        validate(child, models)


def text(element, name):
    """Element.getChildTextTrim: None when the child is absent."""
    child = element.find(name)
    if child is None:
        return None
    return java_trim(child.text or "")


_JAVA_SPACE = "".join(chr(code) for code in range(0x21))


def java_trim(value):
    """String.trim: only characters up to U+0020 go (Python's strip() takes more)."""
    return value.strip(_JAVA_SPACE)


# Numbers as Java reads them. Python's int() and float() take more: underscores, surrounding
# whitespace, any size, "inf"; Cuebot refuses a spec with such a number.

class NumberFormatError(SpecError):
    """Java's NumberFormatException: Cuebot lets it reach its servant, which answers with
    the message."""


_JAVA_INTEGER = re.compile(r"[+-]?\d+\Z")     # Character.digit: any Unicode decimal digit
_JAVA_DOUBLE = re.compile(r"[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                          r"[fFdD]?\Z", re.ASCII)
_JAVA_HEX_DOUBLE = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
                              r"[pP][+-]?\d+)[fFdD]?\Z", re.ASCII)


def _java_integer(value, bits):
    if value is None:
        raise NumberFormatError("Cannot parse null string: null")
    if not _JAVA_INTEGER.match(value):
        raise NumberFormatError('For input string: "%s"' % value)
    number = int(value)
    if not -2 ** (bits - 1) <= number < 2 ** (bits - 1):
        raise NumberFormatError('For input string: "%s"' % value)
    return number


def java_int(value):
    """Integer.parseInt / Integer.valueOf."""
    return _java_integer(value, 32)


def java_long(value):
    """Long.parseLong / Long.valueOf."""
    return _java_integer(value, 64)


def java_double(value):
    """Double.valueOf: surrounding Java whitespace allowed, ASCII digits, an optional type
    suffix, NaN/Infinity spelled so, hexadecimal floats."""
    if value is None:
        raise NumberFormatError("null")   # a NullPointerException in Java; refused as well
    trimmed = java_trim(value)
    if not trimmed:
        raise NumberFormatError("empty String")
    hexadecimal = _JAVA_HEX_DOUBLE.match(trimmed)
    if hexadecimal:
        number = float.fromhex("0x" + hexadecimal.group(2))
        return -number if hexadecimal.group(1) == "-" else number
    if not _JAVA_DOUBLE.match(trimmed):
        raise NumberFormatError('For input string: "%s"' % value)
    return float(trimmed.rstrip("fFdD").replace("Infinity", "inf"))


def java_cast(number, bits=32):
    """(int) / (long) of a double: NaN is 0, out of range saturates, else toward zero."""
    if number != number:
        return 0
    low, high = -2 ** (bits - 1), 2 ** (bits - 1) - 1
    if number >= high:
        return high
    if number <= low:
        return low
    return int(number)


def java_wrap(number, bits=64):
    """Java integer arithmetic overflows silently: wrap to ``bits``."""
    number &= 2 ** bits - 1
    return number - 2 ** bits if number >= 2 ** (bits - 1) else number


def to_bool(value):
    """Cuebot's Convert.stringToBool."""
    if value is None:
        return False
    return value.strip().lower() in ("true", "1", "yes", "on", "t", "y")


NAME_PATTERN = re.compile(r"^[\w.-]{3,}\Z", re.ASCII)  # Java: ASCII, whole string


def conform_name(kind, name):
    if len(name) < 3:
        raise SpecError("The %s name must be at least 3 characters." % kind.lower())
    new_name = name.replace("-", "_").lower()
    if not NAME_PATTERN.match(new_name):
        raise SpecError("The %s name: %s is not in the proper format.  %s names must be alpha "
                        "numeric, no dashes or punctuation." % (kind.lower(), new_name, kind))
    return new_name


def conform_job_name(name, show, shot, user):
    """JobSpec.conformJobName: ``show-shot-user_suffix``, lower case."""
    if name is None:
        raise SpecError("Job names cannot be null")
    prefix = "%s-%s-%s_" % (show, shot, user)
    suffix = name
    if suffix.startswith(prefix):
        suffix = suffix[len(prefix) - 1:]
    suffix = suffix.lower()
    suffix = re.sub(r"_{2,}", "_", suffix)
    suffix = suffix.replace("-", "_")
    if not NAME_PATTERN.match(suffix):
        raise SpecError("The job name suffix: %s must be composed of alpha numeric characters, "
                        "periods, and underscores and be at least 3 characters long" % suffix)
    suffix = re.sub(r"^_+", "", suffix)
    prefix = re.sub(r"_+$", "", prefix)
    return ("%s_%s" % (prefix, suffix)).lower()


FRAME_NAME_PATTERN = re.compile(r"^(\d{4,6})-(\w+)\Z", re.ASCII)


def conform_frame_name(name):
    match = FRAME_NAME_PATTERN.match(name)
    if not match:
        raise SpecError("The frame name: %s is not in the proper format." % name)
    return "%04d-%s" % (int(match.group(1)), conform_name("Layer", match.group(2)))


# Frame ranges (Cuebot's FrameSet / FrameRange).

_SINGLE = re.compile(r"^(-?\d+)\Z", re.ASCII)
_SIMPLE = re.compile(r"^(-?\d+)-(-?\d+)\Z", re.ASCII)
_STEP = re.compile(r"^(-?\d+)-(-?\d+)([xy])(-?\d+)\Z", re.ASCII)
_INTERLEAVE = re.compile(r"^(-?\d+)-(-?\d+):(-?\d+)\Z", re.ASCII)


def _int_range(start, end, step):
    low, high = (end, start) if step < 0 else (start, end)
    frames = [n for n in range(low, high + 1) if (n - start) % abs(step) == 0]
    return frames[::-1] if step < 0 else frames


def _check_step_sign(start, end, step):
    if step > 1 and end < start:
        raise ValueError("end frame may not be less than start frame when using a positive step")
    if step == 0:
        raise ValueError("step cannot be zero")
    if step < 0 and end >= start:
        raise ValueError("end frame may not be greater than start frame when using a "
                         "negative step")


def _parse_section(section):
    match = _SINGLE.match(section)
    if match:
        return [java_int(section)]
    match = _SIMPLE.match(section)
    if match:
        start, end = java_int(match.group(1)), java_int(match.group(2))
        return _int_range(start, end, 1 if end >= start else -1)
    match = _STEP.match(section)
    if match:
        start, end, kind, step = (java_int(match.group(1)), java_int(match.group(2)),
                                  match.group(3), java_int(match.group(4)))
        _check_step_sign(start, end, step)
        stepped = _int_range(start, end, step)
        if kind == "y":
            return [n for n in _int_range(start, end, -1 if step < 0 else 1)
                    if n not in stepped]
        return stepped
    match = _INTERLEAVE.match(section)
    if match:
        start, end, step = (java_int(match.group(1)), java_int(match.group(2)),
                            java_int(match.group(3)))
        _check_step_sign(start, end, step)
        frames = []
        while abs(step) > 0:
            frames.extend(n for n in _int_range(start, end, step) if n not in frames)
            step = int(step / 2)
        return frames
    raise ValueError("unrecognized frame range syntax " + section)


def frame_set(frame_range):
    """FrameSet(range): the ordered frame numbers (duplicates kept, as Cuebot keeps them)."""
    frames = []
    for section in java_split(frame_range, ","):
        frames.extend(_parse_section(section))
    return frames


def java_split(value, separator):
    """String.split: trailing empty strings are dropped (all of them: "" gives [""])."""
    parts = value.split(separator)
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return [] if parts == [""] and value else parts


def normalize(frame_range, chunk):
    """CueUtil.normalizeFrameRange: the first frame of every chunk, duplicates removed."""
    frames = list(dict.fromkeys(frame_set(frame_range)))
    if chunk > 1:
        if chunk > len(frame_set(frame_range)):
            return frames[:1]
        return [frame for index, frame in enumerate(frames) if index % chunk == 0]
    return frames


def chunk_spec(frame_range, number, chunk):
    """FrameSet.getChunk: the frames of the chunk starting at ``number``, as a range string."""
    frames = frame_set(frame_range)
    start = frames.index(number)
    if chunk == 1:
        return str(frames[start]), frames[start]
    part = frames[start:start + chunk]
    return _frames_to_ranges(part), part[-1]


def _frange_part(start, end, step):
    if start == end:
        return str(start)
    if step == 1:
        return "%d-%d" % (start, end)
    return "%d-%dx%d" % (start, end, step)


def _frames_to_ranges(frames):
    if len(frames) == 1:
        return str(frames[0])
    parts = []
    count, step = 1, 0
    start = current = last = frames[0]
    for current in frames[1:]:
        if step == 0:
            step = current - start
        new_step = current - last
        if step == new_step:
            last = current
            count += 1
        elif count == 2 and step != 1:
            parts.append(str(start))
            step = 0
            start = last
            last = current
        else:
            parts.append(_frange_part(start, last, step))
            step = 0
            start = last = current
            count = 1
    if count == 2 and step != 1:
        parts.extend([str(start), str(current)])
    else:
        parts.append(_frange_part(start, current, step))
    return ",".join(parts)
