"""A restricted unpickler for foreign pickles (NVlabs StyleGAN2-ADA ``.pkl`` snapshots).

Unpickling can call any importable function, and NVlabs' ``torch_utils.persistence``
pickles even carry their module source, which the original loader passes to ``exec``.
This unpickler imports nothing the file names and runs none of its code: the only
callables it hands out are its own data rebuilders.  Every global the stream names
(``GLOBAL``/``STACK_GLOBAL``/``INST``/``OBJ``) goes through
:meth:`RestrictedUnpickler.find_class`, which answers in exactly one of three ways:

1. **Allow-listed data rebuilders** (:data:`SAFE_GLOBALS`) get p2s's own safe versions,
   never the library function itself: tensors (``torch._utils._rebuild_tensor_v2``),
   parameters (``_rebuild_parameter``, ``_rebuild_parameter_with_state``), storages
   (``torch.storage._load_from_bytes``, which upstream answers with an unrestricted
   ``torch.load``; here ``torch.load(..., weights_only=True)``), ``collections.OrderedDict``,
   ``set``/``frozenset``, ``_codecs.encode`` (protocol-2 bytes), numpy scalars, dtypes and
   arrays of plain (non-object) dtypes, and ``torch`` dtype values.  Hooks and extra attribute
   state that the originals would attach to tensors are dropped.
2. **Globals in a stub namespace** (:data:`STUB_NAMESPACES`: ``dnnlib``, ``torch_utils``,
   ``training``, the packages of the NVlabs code that wrote the file) become inert
   :class:`Stub` classes that only record what the stream gives them (constructor
   arguments, ``__setstate__`` state, dict items, list items).  Nothing is imported, so
   the stub classes have no behaviour.  ``torch_utils.persistence._reconstruct_persistent_obj``
   is answered by :func:`reconstruct_persistent`, which keeps ``meta['state']`` (the
   network's ``__dict__``: ``_parameters``, ``_buffers``, ``_modules``, attributes) as a
   :class:`PersistentStub` and discards ``meta['module_src']`` unread (only its SHA-256 is
   kept, to report it).
3. **Everything else is refused**: :class:`~p2s.utils.errors.P2SError` ``refused to
   unpickle <module>.<name>``.  That covers every callable a malicious file could ask to
   be called with arguments (``os.system``, ``builtins.eval``/``exec``/``getattr``,
   ``subprocess.Popen``, ``torch.load``, ``pickle.loads``, ...), and also harmless
   classes of other libraries that an NVlabs snapshot never holds.

``BUILD`` (setting an object's state) is refused on everything but the inert stubs and
fresh numpy arrays and dtypes (:data:`BUILD_TARGETS`), so a file can neither rewrite the
rebuilders for the rest of the process nor call ``Tensor.__setstate__``.  Persistent ids
(``PERSID``) are refused as well (the base class raises).  The rule is an
allow-list in both directions: a fork whose networks live in another package is refused
with the global named; pass ``stub_namespaces`` to read it.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import pickle
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import numpy as np
import torch

from p2s.utils.errors import P2SError

#: top-level packages whose globals become inert stubs (NVlabs' own code)
STUB_NAMESPACES = frozenset({"dnnlib", "torch_utils", "training"})
#: the persistence reconstructor, answered by :func:`reconstruct_persistent`
PERSISTENT_RECONSTRUCTOR = ("torch_utils.persistence", "_reconstruct_persistent_obj")
#: Python 2 module names that protocol 0-2 streams may use
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class Stub:
    """Inert stand-in for an instance of a class that was never imported.

    A subclass is made per pickled class name (see :func:`stub_class`); it records
    ``args``/``kwargs`` (from ``REDUCE``/``NEWOBJ``), ``state`` (from ``BUILD``),
    ``dict_items`` (dict-style ``SETITEMS``) and ``list_items`` (list-style ``APPENDS``).
    """

    stub_module: str = "?"
    stub_name: str = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        obj = super().__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.dict_items = {}
        obj.list_items = []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Nothing: ``__new__`` already recorded the arguments."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dict_items[key] = value

    def __getitem__(self, key: Any) -> Any:
        return self.dict_items[key]

    def append(self, value: Any) -> None:
        self.list_items.append(value)

    def extend(self, values: Iterable[Any]) -> None:
        self.list_items.extend(values)

    @property
    def qualname(self) -> str:
        return f"{self.stub_module}.{self.stub_name}"

    def attrs(self) -> dict[str, Any]:
        """The recorded attribute dict: ``state`` (and slot state), else dict items."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:  # (dict_state, slot_state)
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, Mapping):
                    merged.update(part)
            return merged
        if isinstance(state, Mapping):
            return dict(state)
        return dict(self.dict_items)

    def __repr__(self) -> str:
        return f"<stub {self.qualname}>"


class PersistentStub(Stub):
    """What an NVlabs ``persistent_class`` object unpickles to: its class name and state.

    ``module_src`` is never kept: only :attr:`src_sha256` identifies the source text.
    """

    stub_module = "torch_utils.persistence"
    stub_name = "persistent object"

    def __new__(cls, meta: Mapping[str, Any]) -> PersistentStub:
        obj = super().__new__(cls)
        obj.args = ()
        obj.class_name = str(meta.get("class_name", "?"))
        obj.module_name = meta.get("module_name")
        obj.version = meta.get("version")
        src = meta.get("module_src")
        obj.src_sha256 = hashlib.sha256(src.encode()).hexdigest() if isinstance(src, str) else None
        obj.state = meta.get("state")
        return obj

    @property
    def qualname(self) -> str:
        return f"{self.module_name or '<persistent>'}.{self.class_name}"

    def __repr__(self) -> str:
        return f"<persistent stub {self.qualname}>"


_STUB_CLASSES: dict[tuple[str, str], type[Stub]] = {}


def stub_class(module: str, name: str) -> type[Stub]:
    """The (cached) inert :class:`Stub` subclass standing for ``module.name``."""
    key = (module, name)
    if key not in _STUB_CLASSES:
        label = name.replace(".", "_") or "unnamed"
        _STUB_CLASSES[key] = type(label, (Stub,), {"stub_module": module, "stub_name": name})
    return _STUB_CLASSES[key]


def reconstruct_persistent(meta: Any) -> PersistentStub:
    """Safe answer to ``_reconstruct_persistent_obj(meta)``: keep the state, run nothing."""
    if not isinstance(meta, Mapping) or meta.get("type") != "class":
        raise P2SError(
            "refused a persistent object whose meta is not a {'type': 'class', ...} dict"
        )
    if not isinstance(meta.get("state"), Mapping):
        raise P2SError(
            f"persistent object {meta.get('class_name')!r} carries no attribute state"
        )
    return PersistentStub(meta)


# --- safe rebuilders ------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_typed_storage() -> Iterator[None]:
    """Hide PyTorch's 'TypedStorage is deprecated' warning (legacy storages are read)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        yield


def _storage_error(err: Exception) -> str:
    """One line for a storage that ``torch.load(weights_only=True)`` refused or could not read."""
    text = str(err)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return f"refused to unpickle {refused.group(1)} inside a tensor storage"
    detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    lines = text.strip().splitlines()
    first = detail.group(1).strip() if detail else (lines[0] if lines else type(err).__name__)
    return f"unreadable tensor storage inside the pickle ({first})"


def load_storage_bytes(data: Any) -> torch.storage.TypedStorage:
    """``torch.storage._load_from_bytes`` with ``weights_only=True`` on the CPU."""
    if not isinstance(data, (bytes, bytearray)):
        raise P2SError(f"storage data must be bytes, got {type(data).__name__}")
    try:
        with _quiet_typed_storage():
            storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - safe loading refused or could not parse it
        raise P2SError(_storage_error(err)) from None
    if not isinstance(storage, torch.storage.TypedStorage):
        raise P2SError(f"tensor storage bytes held a {type(storage).__name__}, not a storage")
    return storage


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list, torch.Size)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise P2SError(f"tensor {what} must be a tuple of ints, got {value!r}")
    return tuple(value)


def rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """A tensor viewing ``storage``; bounds are checked, hooks and metadata dropped."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise P2SError(f"tensor storage must be a torch storage, got {type(storage).__name__}")
    size = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    if not isinstance(storage_offset, int) or storage_offset < 0 or len(size) != len(stride):
        raise P2SError("tensor offset/size/stride are inconsistent")
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise P2SError("tensor sizes and strides must be >= 0")
    with _quiet_typed_storage():
        numel = storage.size()
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else -1
        if last >= numel:
            raise P2SError(f"tensor view reaches element {last} of a {numel}-element storage")
        tensor = torch.empty(0, dtype=storage.dtype)
        return tensor.set_(storage._untyped_storage, storage_offset, size, stride)


def rebuild_parameter(
    data: Any, requires_grad: Any = False, backward_hooks: Any = None
) -> torch.Tensor:
    """An ``nn.Parameter`` around ``data`` (gradients off; hooks dropped)."""
    if not isinstance(data, torch.Tensor):
        raise P2SError(f"parameter data must be a tensor, got {type(data).__name__}")
    return torch.nn.Parameter(data, requires_grad=False)


def rebuild_parameter_with_state(
    data: Any, requires_grad: Any = False, backward_hooks: Any = None, state: Any = None
) -> torch.Tensor:
    """As :func:`rebuild_parameter`; the extra Python attribute ``state`` is dropped."""
    return rebuild_parameter(data, requires_grad, backward_hooks)


def codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it for bytes: ``(str, 'latin1')`` only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise P2SError(
            "refused to unpickle _codecs.encode with arguments other than (str, 'latin1')"
        )
    return text.encode("latin1")


def _plain_dtype(spec: Any) -> np.dtype:
    try:
        dtype = np.dtype(spec)
    except TypeError:
        raise P2SError(f"refused numpy dtype {spec!r}") from None
    if dtype.hasobject:
        raise P2SError(f"refused numpy dtype {spec!r}: object arrays can hold anything")
    return dtype


def numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """A new ``numpy.dtype(spec)`` for a type string of a plain (non-object) dtype.

    Always a copy (as numpy's own pickles ask): the ``BUILD`` that follows sets its byte
    order, which numpy ignores on its shared builtin dtypes (``'>f4'`` data read as
    ``'<f4'``) and which must never reach a dtype the rest of the process uses.
    """
    if not isinstance(spec, str):
        raise P2SError(f"refused numpy dtype {spec!r}: only type strings such as 'f8' are read")
    return np.dtype(_plain_dtype(spec), copy=True)


def numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """A numpy scalar from its raw bytes (plain dtypes only)."""
    if not isinstance(dtype, np.dtype) or not isinstance(data, (bytes, bytearray)):
        raise P2SError("refused numpy scalar: expected (dtype, bytes)")
    dtype = _plain_dtype(dtype)
    if len(data) != dtype.itemsize:
        raise P2SError(f"numpy scalar of {dtype} needs {dtype.itemsize} bytes, got {len(data)}")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


class NdarrayName:
    """What the name ``numpy.ndarray`` stands for in a file: an argument of ``_reconstruct``.

    numpy's pickles never call the class; a file that does (``REDUCE``) would get an
    array of any shape it asks for, its memory allocated before anything checks it.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise P2SError(
            "refused to call numpy.ndarray (pickle REDUCE): arrays are read only through "
            "numpy's own reconstructors, whose data must match their shape"
        )


NDARRAY = NdarrayName()


def numpy_reconstruct(cls: Any, shape: Any = (0,), dtype_code: Any = b"b") -> np.ndarray:
    """The empty array numpy's ``_reconstruct`` makes; ``BUILD`` then fills it.

    The dtype inside the ``BUILD`` state comes through :func:`numpy_dtype`, so object
    arrays are refused there, and numpy checks that the state's bytes match its shape.
    """
    if cls is not NDARRAY:
        raise P2SError(f"refused numpy _reconstruct of {cls!r}: only numpy.ndarray is read")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def numpy_frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    """numpy's protocol-5 array rebuild: a copy of ``buffer`` as a plain-dtype array."""
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)) or order not in ("C", "F"):
        raise P2SError("refused numpy _frombuffer: expected (bytes, dtype, shape, 'C'|'F')")
    if not isinstance(dtype, np.dtype):
        raise P2SError("refused numpy _frombuffer: expected a numpy dtype")
    shape = _int_tuple(shape, "shape")
    flat = np.frombuffer(bytes(buffer), dtype=_plain_dtype(dtype))
    return flat.reshape(shape, order=order).copy()


def _torch_dtypes() -> dict[tuple[str, str], Any]:
    return {
        ("torch", name): value
        for name, value in vars(torch).items()
        if isinstance(value, torch.dtype)
    }


#: ``(module, name)`` -> the safe object :meth:`RestrictedUnpickler.find_class` returns
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): load_storage_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): codecs_encode,
    ("numpy", "dtype"): numpy_dtype,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy.core.multiarray", "scalar"): numpy_scalar,
    ("numpy._core.multiarray", "scalar"): numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): numpy_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): numpy_frombuffer,
    **_torch_dtypes(),
}


#: what ``BUILD`` (``__setstate__`` / attribute state) may be applied to: p2s's own
#: inert stubs and fresh numpy arrays and dtypes.  Never the functions and classes
#: :meth:`RestrictedUnpickler.find_class` hands out (their ``__defaults__`` would change
#: for the whole process) and never tensors (``Tensor.__setstate__`` calls ``set_`` with
#: the file's storage, offset and sizes unchecked: a view past the end of its memory).
BUILD_TARGETS = (Stub, np.ndarray, np.dtype)


class _Dispatch(dict):
    """The opcode table; an unknown opcode is an UnpicklingError, as in the C unpickler."""

    def __missing__(self, code: int) -> Any:
        raise pickle.UnpicklingError(f"invalid load key, {chr(code)!r}.")


class RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001 - the Python one: BUILD can be checked
    """Unpickle tensors and containers; stub NVlabs classes; refuse every other global
    and any ``BUILD`` on an object outside :data:`BUILD_TARGETS`.

    It extends the pure-Python unpickler because the C one offers no hook on ``BUILD``;
    NVlabs snapshots hold few opcodes (the weights are large ``bytes`` records), so
    this costs little.

    Args:
        file: a binary file object positioned at the pickle.
        stub_namespaces: top-level packages whose globals become :class:`Stub` classes.
    """

    def __init__(self, file: BinaryIO, stub_namespaces: Iterable[str] = STUB_NAMESPACES) -> None:
        super().__init__(file)
        self.stub_namespaces = frozenset(stub_namespaces)

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if (module, name) == PERSISTENT_RECONSTRUCTOR:
            return reconstruct_persistent
        if module.split(".", 1)[0] in self.stub_namespaces:
            return stub_class(module, name)
        raise P2SError(
            f"refused to unpickle {module}.{name}: only tensors, containers and the "
            f"NVlabs network classes ({', '.join(sorted(self.stub_namespaces))}) are read"
        )

    def load_build(self) -> None:
        """``BUILD``: set the state of the object on the stack, if it may take one."""
        target = self.stack[-2] if len(self.stack) >= 2 else None  # below the state
        if not isinstance(target, BUILD_TARGETS):
            raise P2SError(
                f"refused to set the state of {_describe(target)} (pickle BUILD): only NVlabs network "
                "objects and numpy arrays take state"
            )
        super().load_build()

    dispatch = _Dispatch(pickle._Unpickler.dispatch)  # noqa: SLF001
    dispatch[pickle.BUILD[0]] = load_build


def _describe(obj: Any) -> str:
    """``'the function codecs_encode'``, ``'a Tensor'``: what a refused BUILD targeted."""
    if isinstance(obj, type):
        return f"the class {obj.__qualname__}"
    if callable(obj) and hasattr(obj, "__name__"):
        return f"the function {obj.__name__}"
    return f"a {type(obj).__name__}"


def restricted_load(
    file: BinaryIO, stub_namespaces: Iterable[str] = STUB_NAMESPACES
) -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler` (errors become one line)."""
    try:
        return RestrictedUnpickler(file, stub_namespaces).load()
    except P2SError:
        raise
    except Exception as err:  # noqa: BLE001 - a corrupt stream raises anything
        raise P2SError(f"not a readable pickle ({error_line(err)})") from None


def error_line(err: BaseException) -> str:
    """``'TypeName: first line'`` of an unexpected exception, for a one-line message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__

