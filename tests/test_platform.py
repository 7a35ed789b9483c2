"""Starting on an artist's machine: no display, missing Qt libraries, doctor, desktop integration,
closed pipes, training without torch, duplicate model names, the device line, the wheel's layout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app import cli, startup
from mangacolor_app.core import paths
from mangacolor_app.inference.gpu import nvidia_gpu_name
from mangacolor_app.inference.registry import ModelRegistry
from mangacolor_app.inference.session import DeviceReport, get_session

ROOT = Path(__file__).resolve().parent.parent
XDG = ROOT / "packaging" / "linux"
APP_ID = paths.APP_ID


def _env(**extra: str) -> dict[str, str]:
    """The test environment without any display, with PYTHONPATH at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def _page(path: Path) -> Path:
    Image.fromarray(np.full((64, 48), 255, np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------ before Qt starts


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is for Linux")
def test_no_display_exits_quickly_naming_it(tmp_path: Path) -> None:
    page = _page(tmp_path / "page.png")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mangacolor_app.cli", str(page)], env=_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=10, check=False)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr  # a plain exit status, not a signal (negative) or abort (134)
    assert "no display" in proc.stderr and "DISPLAY" in proc.stderr
    assert "Aborted" not in proc.stderr and "core dumped" not in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("core*"))
    assert elapsed < 10


def test_missing_xcb_library_names_it_and_the_install_commands() -> None:
    fake = startup.XcbLibrary("libmangacolor-test-missing.so.7", "libmangacolor-test7", "mangacolor-test-libs")
    libc = startup.XcbLibrary("libc.so.6", "libc6", "glibc")
    assert startup.missing_libraries([libc, fake]) == [fake]  # the real dynamic loader decides
    message = startup.editor_start_problem({"DISPLAY": ":0"}, libraries=[libc, fake])
    if not sys.platform.startswith("linux"):
        assert message is None
        return
    assert message is not None
    assert "libmangacolor-test-missing.so.7" in message and "libc.so.6" not in message.splitlines()[0]
    assert "sudo apt-get install libmangacolor-test7" in message
    assert "sudo dnf install mangacolor-test-libs" in message


def test_headless_platforms_skip_every_check() -> None:
    fake = startup.XcbLibrary("libmangacolor-test-missing.so.7", "x", "y")
    for platform in ("offscreen", "minimal", "vnc:size=800x600"):
        assert startup.editor_start_problem({"QT_QPA_PLATFORM": platform}, libraries=[fake]) is None
    assert startup.platform_plugin({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    if sys.platform.startswith("linux"):
        assert startup.platform_plugin({"DISPLAY": ":0"}) == "xcb"
        assert startup.platform_plugin({"WAYLAND_DISPLAY": "wayland-0"}) == "wayland"
        assert "Wayland socket" in (startup.display_problem({"WAYLAND_DISPLAY": "wayland-mc-test",
                                                              "XDG_RUNTIME_DIR": "/nonexistent"}) or "")


def test_install_commands_list_each_package_once() -> None:
    libs = [startup.XcbLibrary("a.so", "libxcb1", "libxcb"), startup.XcbLibrary("b.so", "libxcb-shm0", "libxcb")]
    assert startup.install_commands(libs) == ["Debian/Ubuntu: sudo apt-get install libxcb1 libxcb-shm0",
                                              "Fedora:        sudo dnf install libxcb"]


# ------------------------------------------------------------------------------ doctor, pipes


def test_doctor_reports_every_section(tiny_onnx_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundled = paths.bundled_models_dir()
    bundled.mkdir(parents=True)
    shutil.copyfile(tiny_onnx_model, bundled / "tiny.onnx")
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for heading in ("[versions]", "[editor]", "[inference]", "[models]", "[folders]"):
        assert heading in out
    assert "Qt platform plugin: offscreen" in out
    assert "onnxruntime providers:" in out and "CPUExecutionProvider" in out
    assert re.search(r"device: (CPU|.+\(CUDA\))", out)
    assert f"model: {ModelRegistry().list()[0].name} [bundled]" in out
    assert f"user models: {paths.user_models_dir(create=False)}" in out


def test_closed_pipe_gives_no_traceback(tiny_onnx_model: Path, tmp_path: Path) -> None:
    env = _env(QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-m", "mangacolor_app.cli", "doctor"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `mangacolor doctor | head -0`: the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err


# ------------------------------------------------------------------------------ models, device line


def test_user_copy_of_the_bundled_model_is_reported_once(tiny_onnx_model: Path) -> None:
    bundled = paths.bundled_models_dir()
    bundled.mkdir(parents=True)
    shutil.copyfile(tiny_onnx_model, bundled / "tiny.onnx")
    shutil.copyfile(tiny_onnx_model, paths.user_models_dir() / "tiny.onnx")
    registry = ModelRegistry()
    assert [(m.source, m.path.parent) for m in registry.list()] == [("bundled", bundled)]
    assert len(registry.problems) == 1
    problem = registry.problems[0]
    assert problem.shadowed_by == bundled / "tiny.onnx" and "copy" in problem.message
    assert registry.default().source == "bundled"


def test_device_line_texts() -> None:
    cuda = DeviceReport("auto", "CUDAExecutionProvider", gpu_name="NVIDIA GeForce RTX 4070")
    assert cuda.display == "NVIDIA GeForce RTX 4070 (CUDA)"
    assert DeviceReport("cpu", "CPUExecutionProvider").display == "CPU"
    assert DeviceReport("auto", "CPUExecutionProvider").display == "CPU: no usable NVIDIA GPU found"
    broken = DeviceReport("auto", "CPUExecutionProvider", gpu_name="NVIDIA RTX A2000", reason="libcublasLt.so.13: x")
    assert broken.display == "CPU: NVIDIA RTX A2000 found, but CUDA cannot start"
    assert "libcublasLt.so.13" in broken.details and "mangacolor[gpu]" in broken.details


def test_cpu_fallback_message_on_this_machine(tiny_onnx_model: Path) -> None:
    """No GPU here (CI): auto falls back to the CPU and the device line says why, details in the tooltip text."""
    _, report = get_session(tiny_onnx_model, "auto")
    if report.on_gpu:
        pytest.skip(f"this machine runs on {report.display}")
    if nvidia_gpu_name() is None:
        assert report.display == "CPU: no usable NVIDIA GPU found"
    assert report.display.startswith("CPU")
    assert "CPUExecutionProvider" in report.details and "NVIDIA GPU:" in report.details


# ------------------------------------------------------------------------------ training without torch


def test_training_commands_without_torch_name_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['torch'] = None; from training.cli import main; "
            "sys.exit(main(['export', 'missing.safetensors', '-o', 'out.onnx']))")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'mangacolor[train]'" in lines[0] and "torch" in lines[0]


# ------------------------------------------------------------------------------ desktop integration


def test_desktop_entry_and_metainfo_content() -> None:
    entry = (XDG / f"{APP_ID}.desktop").read_text()
    assert "\nExec=mangacolor %f\n" in entry and f"\nIcon={APP_ID}\n" in entry
    mimes = next(line for line in entry.splitlines() if line.startswith("MimeType=")).split("=", 1)[1].split(";")
    assert {"application/x-mangacolor-project", "image/bmp", "image/png"} <= set(mimes)
    assert "application/vnd.comicbook+zip" not in mimes  # the editor opens no .cbz
    assert "*.mcproj" in (XDG / f"{APP_ID}.mime.xml").read_text()
    assert f"<id>{APP_ID}</id>" in (XDG / f"{APP_ID}.metainfo.xml").read_text()
    for size in (16, 22, 24, 32, 48, 64, 128, 256, 512):
        with Image.open(XDG / "icons" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") as icon:
            assert icon.size == (size, size) and icon.mode == "RGBA"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_desktop_file_validates() -> None:
    proc = subprocess.run(["desktop-file-validate", str(XDG / f"{APP_ID}.desktop")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream is not installed")
def test_metainfo_validates() -> None:
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(XDG / f"{APP_ID}.metainfo.xml")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_install_desktop_and_uninstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert cli.main(["install-desktop"]) == 0
    entry = data / "applications" / f"{APP_ID}.desktop"
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" %f")
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (data / "mime" / "packages" / f"{APP_ID}.xml").is_file()
    assert (data / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    if shutil.which("update-mime-database"):
        assert "*.mcproj" in (data / "mime" / "globs2").read_text()
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout
    assert cli.main(["install-desktop", "--uninstall"]) == 0
    assert not entry.exists() and not list(data.rglob(f"{APP_ID}*"))
    assert "removed" in capsys.readouterr().out


# ------------------------------------------------------------------------------ wheel layout


def test_training_imports_itself_relatively() -> None:
    """training/ is installed as mangacolor_training: an absolute `training.` import would break the wheel."""
    offenders = []
    for path in (ROOT / "training").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(from training(\.|\s)|import training\b)", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use relative imports inside training/:\n" + "\n".join(offenders)


def test_source_tree_resources_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.ENV_BUNDLED_MODELS)
    assert paths.resources_dir() == ROOT / "resources"
    assert paths.desktop_files_dir() == XDG


def test_fp16_variant_is_found_only_when_it_matches(tiny_onnx_model: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mangacolor_app.inference.gpu import FP16_ENV
    from mangacolor_app.inference.model import fp16_variant
    from mangacolor_app.inference.manifest import read_manifest, write_sidecar

    model = tmp_path / "m.onnx"
    shutil.copyfile(tiny_onnx_model, model)
    assert fp16_variant(model) is None  # no sibling
    half = tmp_path / "m-fp16.onnx"
    shutil.copyfile(tiny_onnx_model, half)
    assert fp16_variant(model) is None  # a sibling whose manifest does not say fp16
    write_sidecar(half, read_manifest(half).replace(name="m-fp16", fp16=True))
    assert fp16_variant(model) == half
    monkeypatch.setenv(FP16_ENV, "0")
    assert fp16_variant(model) is None


def test_fp16_manifest_with_float32_io_runs(tiny_onnx_model: Path, tmp_path: Path) -> None:
    """`mangacolor-train export --fp16` keeps float32 I/O: the pipeline feeds the type the session asks for."""
    from mangacolor_app.inference.manifest import read_manifest, write_sidecar
    from mangacolor_app.inference.pipeline import Colorizer

    half = tmp_path / "m-fp16.onnx"
    shutil.copyfile(tiny_onnx_model, half)
    write_sidecar(half, read_manifest(half).replace(name="m-fp16", fp16=True))
    page = np.random.default_rng(0).random((64, 80)).astype(np.float32)
    expected = Colorizer(tiny_onnx_model, device="cpu").colorize(page)
    assert np.array_equal(Colorizer(half, device="cpu").colorize(page), expected)


def test_app_has_the_desktop_file_name_and_icon(qtbot) -> None:  # type: ignore[no-untyped-def]
    from mangacolor_app.qt.app import create_app

    app = create_app()
    assert app.desktopFileName() == APP_ID  # Wayland app id = the desktop entry's name
    assert not app.windowIcon().isNull()


def test_every_package_is_in_the_wheel() -> None:
    """pyproject lists the packages explicitly (for the package-dir mapping): a new subpackage must be added."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {"mangacolor_app": "mangacolor_app", "training": "mangacolor_training"}
    found = set()
    for top, name in mapping.items():
        for init in (ROOT / top).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *parts)))
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
