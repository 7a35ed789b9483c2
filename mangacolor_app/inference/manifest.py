"""Reading the model manifest out of an ONNX model (DEVELOPERS.md, "Model contract").

The manifest itself (dataclass, channel tokens, JSON (de)serialisation, sidecar and metadata writers)
is pure Python in :mod:`mangacolor_app.core.manifest`; this module adds what needs onnxruntime:
:func:`read_manifest` reads the sidecar ``<model>.json`` (wins) or the ``mangacolor_manifest``
metadata and checks the graph (one NCHW float input with the manifest's channel count, one 3-channel
output) so that a file that is not a colorization model is refused with a plain :class:`ModelError`
naming the file. The core names are re-exported here for existing callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mangacolor_app.core.errors import ModelError
from mangacolor_app.core.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_KEY,
    OUTPUT_SPACES,
    ModelManifest,
    parse_manifest_json,
    read_sidecar,
    sidecar_path,
    write_manifest_metadata,
    write_sidecar,
)

__all__ = [
    "MANIFEST_KEY",
    "MANIFEST_FORMAT",
    "OUTPUT_SPACES",
    "ModelManifest",
    "GraphInfo",
    "sidecar_path",
    "read_manifest",
    "inspect_graph",
    "write_sidecar",
    "write_manifest_metadata",
]


@dataclass(frozen=True)
class GraphInfo:
    """Inputs/outputs of an ONNX graph: name -> shape (ints for fixed dims, str/None for dynamic)."""

    inputs: dict[str, tuple[int | str | None, ...]]
    outputs: dict[str, tuple[int | str | None, ...]]
    input_types: dict[str, str]
    metadata: dict[str, str]


def _check_file(path: Path) -> None:
    """Raise ModelError for a missing, non-regular or empty model file."""
    if not path.exists():
        raise ModelError("model file not found", path)
    if not path.is_file():
        raise ModelError("not a model file (it is a folder or special file)", path)
    if path.stat().st_size == 0:
        raise ModelError("the model file is empty (0 bytes)", path)


def inspect_graph(onnx_path: str | Path) -> GraphInfo:
    """Read an ONNX file's I/O signature and metadata with onnxruntime (CPU, no optimisation).

    Raises:
        ModelError: missing/empty file, or onnxruntime cannot load it ("not a valid ONNX model").
    """
    from mangacolor_app.inference.session import load_inspection_session

    path = Path(onnx_path)
    _check_file(path)
    sess = load_inspection_session(path)
    meta = sess.get_modelmeta()
    return GraphInfo(
        inputs={i.name: tuple(i.shape) for i in sess.get_inputs()},
        outputs={o.name: tuple(o.shape) for o in sess.get_outputs()},
        input_types={i.name: i.type for i in sess.get_inputs()},
        metadata=dict(meta.custom_metadata_map),
    )


def _check_io(m: ModelManifest, g: GraphInfo, path: Path) -> None:
    """Check the graph matches the manifest (names, NCHW rank 4, channel counts)."""
    if m.input_name not in g.inputs:
        raise ModelError(
            f"not a MangaColor colorization model: the manifest names input {m.input_name!r} "
            f"but the model's inputs are {list(g.inputs)}", path)
    if m.output_name not in g.outputs:
        raise ModelError(
            f"not a MangaColor colorization model: the manifest names output {m.output_name!r} "
            f"but the model's outputs are {list(g.outputs)}", path)
    shape_in, shape_out = g.inputs[m.input_name], g.outputs[m.output_name]
    if len(shape_in) != 4:
        raise ModelError(f"not a colorization model: its input has rank {len(shape_in)}, expected NCHW (4)", path)
    if g.input_types.get(m.input_name) not in ("tensor(float)", "tensor(float16)"):
        raise ModelError(f"not a colorization model: input type {g.input_types.get(m.input_name)}", path)
    if isinstance(shape_in[1], int) and shape_in[1] != m.in_channels:
        raise ModelError(
            f"the model takes {shape_in[1]} input channels but its manifest lists {m.in_channels} "
            f"({', '.join(m.channels)})", path)
    if len(shape_out) != 4 or (isinstance(shape_out[1], int) and shape_out[1] != 3):
        raise ModelError(f"not a colorization model: output shape {list(shape_out)}, expected N x 3 x H x W", path)


def read_manifest(onnx_path: str | Path, *, check_graph: bool = True) -> ModelManifest:
    """Read and validate the manifest of ``onnx_path`` (sidecar ``<stem>.json`` wins over metadata).

    Args:
        onnx_path: the ``.onnx`` file.
        check_graph: also load the graph (onnxruntime, CPU) and check its I/O against the manifest.

    Raises:
        ModelError: missing/empty/unreadable file, not ONNX, no manifest, invalid manifest, or a
            graph that does not match (wrong input rank or channel count).
    """
    path = Path(onnx_path)
    _check_file(path)
    side = sidecar_path(path)
    graph = inspect_graph(path) if check_graph or not side.is_file() else None
    manifest = read_sidecar(path)
    if manifest is None:
        assert graph is not None
        raw = graph.metadata.get(MANIFEST_KEY)
        if raw is None:
            raise ModelError(
                "not a MangaColor colorization model: no manifest (no sidecar "
                f"{side.name} and no '{MANIFEST_KEY}' metadata)", path)
        manifest = parse_manifest_json(raw, path)
    if graph is not None:
        _check_io(manifest, graph, path)
    return manifest
