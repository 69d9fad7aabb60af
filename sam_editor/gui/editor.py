"""The editor's logic: listens to the session, drives the panels and the canvas, runs the jobs
(latent map, inversion, GANSpace, StyleCLIP) on workers and coalesces renders."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QPointF, Signal, Slot
from PySide6.QtGui import QUndoStack

from sam_editor.gan.layers import LayerSpace
from sam_editor.session import (
    EditSpec,
    Inversion,
    InversionProgress,
    Session,
    compute_ganspace,
    predict_latent_map,
    run_inversion,
    run_styleclip,
)

from .commands import SetEditRegion, SetEdits, SetOverrides, SetTau, close_merging
from .workers import Jobs, JobWorker, RenderWorker, torch_threads_for

if TYPE_CHECKING:
    from .canvas import ImageCanvas
    from .main_window import MainWindow

TOP_K = 8  # GANSpace components shown as sliders


def show_session(c: ImageCanvas, s: Session) -> None:
    """The StyleGAN2 session's frame, photo box, source, reconstruction and edit on canvas `c`."""
    h, w = s.frame_size
    c.set_frame(h, w)
    c.set_photo_box(None if s.placement is None else s.placement.box)
    c.set_image("source", s.display_source())
    c.set_image("reconstruction", None if s.inversion is None else s.inversion.reconstruction)
    c.set_image("edited", s.result_image("edited"))


class Editor(QObject):
    """Signals are for the status bar and for tests that wait on the real events."""

    mapReady = Signal()
    previewShown = Signal(int)  # step
    inversionFinished = Signal(object)  # Inversion
    rendered = Signal(float)  # seconds from request to repaint
    ganspaceReady = Signal()
    problem = Signal(str)
    encoded = Signal(float)  # seconds from the map being ready to the encoder's φ on screen
    segmentMenuRequested = Signal(QPointF, int, object)  # where, how many selected, their one space or None
    reachShown = Signal(bool)  # "show where edits act" switched on or off

    def __init__(self, window: MainWindow, session: Session, undo: QUndoStack) -> None:
        super().__init__(window)
        self.w = window
        self.session = session
        self.undo = undo
        self.jobs = Jobs(self)
        self.renderer = RenderWorker()
        self.renderer.rendered.connect(self._on_rendered)
        self.renderer.failed.connect(self._on_render_failed)
        self._render_id = 0
        self._render_t0: dict[int, float] = {}  # request id → time of the change that asked for it
        self._shown_id = 0
        self.last_render_latency: float | None = None
        self.hover: int | None = None
        self.selection: list[int] = []
        self.show_reach = False
        self.inverting = False
        self.presets: list = []
        self._text_job: tuple[str, float] = ("", 1.0)
        self.refine_after_encoding = True  # after the encoder's φ, optimise from it (live previews)
        self._encoding_t0: float | None = None
        session.events.connect(self._on_session_event)

    # ---- session events ---------------------------------------------------------------------
    def _on_session_event(self, name: str) -> None:
        getattr(self, f"_refresh_{name}", lambda: None)()
        self.w.update_actions()

    def _refresh_bundle(self) -> None:
        self.w.show_bundle()
        self.w.inversion_panel.set_encoder_available(self.session.bundle is not None and self.session.bundle.encoder is not None)
        self.session.ganspace = None
        self.start_ganspace()

    def _refresh_image(self) -> None:
        s = self.session
        self._shown_id = self._render_id  # renders still in flight belong to the previous state
        for name in ("inversion", "styleclip", "latent_map"):
            self.jobs.cancel(name)
        show_session(self.w.canvas, s)
        self.hover, self.selection = None, []
        self.w.map_panel.set_edit_region(len(s.edit_region))
        self.w.set_view("source" if s.inversion is None else "side")
        self.w.canvas.fit()
        self._refresh_latent_map()
        self._refresh_edits()
        if s.latent_map is None:
            self.start_latent_map()
        else:
            self.mapReady.emit()

    def _refresh_latent_map(self) -> None:
        s = self.session
        lm = s.latent_map
        panel = self.w.map_panel
        if s.bundle is not None:  # the bundle's τ scale and segmenter (issue 35)
            sc = s.bundle.tau_scale
            panel.set_scale(sc.metric, min(sc.lo, s.tau), max(sc.hi, s.tau), s.bundle.segmenter_label)
        panel.set_tau(s.tau)
        panel.set_coverage(None if lm is None else lm.coverage())
        panel.set_overrides(0 if lm is None else len(lm.overrides))
        panel.set_stale(s.map_changed_since_inversion)
        panel.set_selection_enabled(bool(self.selection), s.available_spaces())
        self._show_segment()
        self.update_overlay()

    def _refresh_inversion(self) -> None:
        s = self.session
        self._shown_id = self._render_id
        assert s.inversion is not None
        self.w.canvas.set_image("reconstruction", s.inversion.reconstruction)
        self.w.canvas.set_image("edited", s.result_image("edited"))
        self.w.map_panel.set_stale(s.map_changed_since_inversion)
        self.w.edit_panel.set_enabled(s.ganspace is not None)
        self.update_reach()
        self.request_render()

    def _refresh_edit_region(self) -> None:
        self.w.map_panel.set_edit_region(len(self.session.edit_region))
        self.update_reach()
        self.request_render()

    def _refresh_edits(self) -> None:
        s = self.session
        self.w.edit_panel.show_edits(s.edits)
        self.w.edit_panel.set_enabled(s.inversion is not None and s.ganspace is not None)
        self.update_reach()
        self.request_render()

    def _refresh_render(self) -> None:
        self.w.canvas.set_image("edited", self.session.edited)

    def _refresh_project(self) -> None:
        self.w.update_title()

    # ---- latent map -------------------------------------------------------------------------
    def start_latent_map(self) -> None:
        s = self.session
        if s.bundle is None or s.work is None:
            return
        fn = functools.partial(predict_latent_map, s.bundle, s.work.copy(), s.tau, box=s.placement.box if s.placement else None)
        worker = JobWorker("latent_map", fn, token=s.image_token, threads=torch_threads_for(s.bundle.G))
        worker.finished.connect(self._on_latent_map)
        worker.failed.connect(self._on_failed)
        self.w.status("Predicting the invertibility map…")
        self.jobs.start(worker)

    def _stale(self) -> bool:
        """True in a job's slot when the job was started for a photo that has since been replaced."""
        worker = self.sender()
        return isinstance(worker, JobWorker) and worker.token != self.session.image_token

    @Slot(object)
    def _on_latent_map(self, latent_map) -> None:  # noqa: ANN001
        s = self.session
        if self._stale() or s.work is None or latent_map.shape != s.work.shape[:2]:
            return  # a newer image replaced the one this map was for
        s.apply_latent_map(latent_map)
        n = latent_map.num_segments
        self.w.status(f"Invertibility map: {n} segment{'s' * (n != 1)}", 4000)
        self.mapReady.emit()
        if s.inversion is None and s.bundle is not None and s.bundle.encoder is not None:
            self.start_encoding()

    def start_encoding(self) -> None:
        """The encoder's φ for the photo and its map, in one pass: editing can start at once; the
        optimisation then refines it (`refine_after_encoding`)."""
        s = self.session
        if s.bundle is None or s.work is None or s.latent_map is None or self.inverting:
            return
        self._encoding_t0 = time.perf_counter()
        self.start_inversion("sam", 0, "encoder")

    def update_overlay(self) -> None:
        panel = self.w.map_panel
        highlight = self.selection[0] if len(self.selection) == 1 else self.hover
        rgba = self.session.overlay_rgba(highlight=highlight, selection=self.selection)
        self.w.canvas.set_overlay(rgba, panel.overlay_opacity(), panel.overlay_visible(), highlight, self.selection)

    def on_tau(self, tau: float) -> None:
        if self.session.latent_map is not None and abs(tau - self.session.tau) > 1e-9:
            self.undo.push(SetTau(self.session, self.session.tau, tau))

    def on_tau_released(self) -> None:
        close_merging(self.undo)

    def on_hover(self, y: float, x: float) -> None:
        seg = self.w.canvas.segment_at(y, x)  # the segment the view draws there
        if seg != self.hover:
            self.hover = seg
            self._show_segment()
            if not self.selection:
                self.update_overlay()

    def on_leave(self) -> None:
        if self.hover is not None:
            self.hover = None
            self._show_segment()
            self.update_overlay()

    def _show_segment(self) -> None:
        s = self.session
        seg = self.hover if self.hover is not None else (self.selection[0] if self.selection else None)
        info = None if seg is None or s.latent_map is None else s.segment_info(seg)
        predicted = s.bundle is None or s.bundle.predictor is not None
        self.w.map_panel.set_segment(info, s.tau, len(self.selection), predicted)

    def on_click(self, y: float, x: float, global_pos: QPointF) -> None:
        seg = self.w.canvas.segment_at(y, x)
        self.select([] if seg is None else [seg], global_pos)

    def on_brush(self, points: list, global_pos: QPointF) -> None:
        """The segments under a brush stroke of (y, x) frame points, in stroke order."""
        hit = (self.w.canvas.segment_at(y, x) for y, x in points)
        self.select(list(dict.fromkeys(k for k in hit if k is not None)), global_pos)

    def select(self, segments: list[int], global_pos: QPointF | None = None) -> None:
        self.selection = segments
        self.w.map_panel.set_selection_enabled(bool(segments), self.session.available_spaces())
        self._show_segment()
        self.update_overlay()
        if segments and global_pos is not None:
            lm = self.session.latent_map
            current = {lm.space_of_segment(k) for k in segments} if lm else set()
            only = next(iter(current)) if len(current) == 1 else None
            self.segmentMenuRequested.emit(global_pos, len(segments), only)

    def override(self, space: LayerSpace | None, *_: object) -> None:
        """Put the selected segments in `space` (None: back to automatic) — one undo step."""
        lm = self.session.latent_map
        if lm is None or not self.selection or (space is not None and space not in self.session.available_spaces()):
            return
        changes = {k: space for k in self.selection if (lm.overrides.get(k) != space)}
        if changes:
            self.undo.push(SetOverrides(self.session, changes))

    def reset_overrides(self) -> None:
        lm = self.session.latent_map
        if lm is not None and lm.overrides:
            self.undo.push(SetOverrides(self.session, {k: None for k in lm.overrides}))

    def limit_edits(self, only_selection: bool = True, *_: object) -> None:
        """Edits act only on the selected segments (False: everywhere again) — one undo step."""
        region = frozenset(self.selection) if only_selection else frozenset()
        if self.session.latent_map is None or (only_selection and not region) or region == self.session.edit_region:
            return
        self.undo.push(SetEditRegion(self.session, region))

    # ---- inversion --------------------------------------------------------------------------
    def start_inversion(self, method: str, steps: int, init: str = "auto") -> None:
        """`init`: "encoder" | "mean" | "auto" (the encoder when the bundle has one);
        `steps` 0 with the encoder: its φ alone."""
        s = self.session
        if s.bundle is None or s.work is None or (method == "sam" and s.latent_map is None) or self.inverting:
            return
        if s.bundle.encoder is None:
            init = "mean"
        lm = None if s.latent_map is None else s.latent_map.with_tau(s.tau)
        fn = functools.partial(
            run_inversion, s.bundle, s.work.copy(), lm, method, steps, valid=s.photo_mask(), init=init, edit_delta=self._live_edit_delta
        )
        worker = JobWorker("inversion", fn, token=s.image_token, threads=torch_threads_for(s.bundle.G))
        worker.progress.connect(self._on_inversion_progress)
        worker.finished.connect(self._on_inversion)
        worker.failed.connect(self._on_inversion_failed)
        self.inverting = True
        self.w.inversion_panel.set_running(True)
        self.w.set_view("side")
        start = "encoder" if init in ("encoder", "auto") else "mean w"
        self.w.status("Encoding…" if steps == 0 else f"Inverting ({method}, {steps} steps from the {start})…")
        self.jobs.start(worker)
        self.w.update_actions()

    def cancel(self) -> None:
        self.jobs.cancel("inversion")
        self.jobs.cancel("styleclip")
        self.jobs.cancel("latent_map")

    @Slot(int, int, object)
    def _on_inversion_progress(self, step: int, total: int, p: InversionProgress) -> None:
        if self._stale():
            return
        self.w.inversion_panel.show_progress(p)
        if p.preview is not None:
            self.w.canvas.set_image("reconstruction", p.preview)
            # the Edited pane follows too: the edit stack on the current φ (no edits: the preview)
            self.w.canvas.set_image("edited", p.edited if p.edited is not None else p.preview)
            self.previewShown.emit(step)

    def _live_edit_delta(self):  # noqa: ANN202 - runs on the inversion's worker thread
        """The edit stack's δw+ now, for the Edited pane during an inversion; None: no edit."""
        s = self.session
        edits = list(s.edits)  # set_edits replaces the list, never changes it in place
        if s.bundle is None or not any(e.enabled and e.strength for e in edits):
            return None
        return s.edit_stack(edits).total_delta_w()

    @Slot(object)
    def _on_inversion(self, inversion: Inversion) -> None:
        self.inverting = False
        self.w.inversion_panel.set_running(False)
        if self._stale():
            self.w.inversion_panel.show_done("")
            self.w.update_actions()
            return
        encoded = inversion.steps_run == 0 and inversion.phi.metadata.get("init") in ("encoder", "e4e")
        kept, which = self.session.better_of(inversion)  # a cancelled re-run never replaces a better result
        how = f"cancelled — {which}" if which else ("cancelled — kept the best so far" if inversion.cancelled else "done")
        text = "encoder φ" if encoded else f"{inversion.steps_run} steps"
        self.w.inversion_panel.show_done(f"{text} in {inversion.seconds:.1f} s ({how})")
        self.w.inversion_panel.show_losses(kept.losses)
        if kept is not inversion:
            self.w.canvas.set_image("reconstruction", kept.reconstruction)  # the partial previews are gone
            self.w.status(f"Inversion {how}", 8000)
            self.w.update_actions()
            self.inversionFinished.emit(kept)
            return
        self.session.apply_inversion(inversion)
        refine = encoded and self.refine_after_encoding and self.w.inversion_panel.steps_value() > 0
        self.w.status("Encoder result — edit away; refining…" if refine else f"Inversion {how}", 5000)
        self.inversionFinished.emit(inversion)
        if encoded:
            t0, self._encoding_t0 = self._encoding_t0, None
            if t0 is not None:
                self.encoded.emit(time.perf_counter() - t0)
            if refine and not inversion.cancelled:  # length 0 ("Encoder only"): nothing to refine
                self.start_inversion("sam", self.w.inversion_panel.steps_value(), "encoder")

    @Slot(str)
    def _on_inversion_failed(self, message: str) -> None:
        self.inverting = False
        self.w.inversion_panel.set_running(False)
        self._on_failed(message)
        self.w.update_actions()

    # ---- GANSpace and edits -----------------------------------------------------------------
    def start_ganspace(self) -> None:
        s = self.session
        if s.bundle is None or s.ganspace is not None:
            return
        worker = JobWorker("ganspace", functools.partial(compute_ganspace, s.bundle), threads=torch_threads_for(s.bundle.G))
        worker.progress.connect(self._on_ganspace_progress)
        worker.finished.connect(self._on_ganspace)
        worker.failed.connect(self._on_failed)
        self.w.edit_panel.set_ganspace_status("Finding GANSpace directions…")
        self.jobs.start(worker)

    @Slot(int, int, object)
    def _on_ganspace_progress(self, done: int, total: int, _payload: object) -> None:
        self.w.edit_panel.set_ganspace_status(f"Finding GANSpace directions… {100 * done // max(total, 1)} %")

    @Slot(object)
    def _on_ganspace(self, comps) -> None:  # noqa: ANN001
        s = self.session
        s.ganspace = comps
        ratios = comps.explained_variance_ratio.tolist()[:TOP_K]
        self.presets = s.presets()
        if s.preset_problem:
            self.w.show_problem("", f"A user preset was not read: {s.preset_problem}", kind="warning", timeout_ms=15000)
        self.w.edit_panel.set_components(ratios, s.num_ws, self.component_names())
        self.w.edit_panel.set_presets([p.name if hasattr(p, "component") else f"Official: {p.name}" for p in self.presets])
        self.w.edit_panel.set_ganspace_status(
            f"Top {len(ratios)} of {comps.num_components} principal directions of W ({comps.n_samples:,} samples)"
        )
        self._refresh_edits()
        self.ganspaceReady.emit()

    def _names_key(self) -> str:
        b = self.session.bundle
        return f"component_names/{b.generator_id if b is not None else 'none'}"

    def component_names(self) -> dict[int, str]:
        """What each GANSpace component does: the names the bundle's presets give (the demo
        probe's presets.json, the known car edits), the user's own names over them (QSettings,
        per generator)."""
        from sam_editor.edits.presets import component_names

        names = component_names([p for p in self.presets if hasattr(p, "component")])
        settings = self.w.settings
        settings.beginGroup(self._names_key())
        try:
            for key in settings.childKeys():
                if key.isdigit() and str(settings.value(key, "")).strip():
                    names[int(key)] = str(settings.value(key)).strip()
        finally:
            settings.endGroup()
        return names

    def rename_component(self, k: int, name: str) -> None:
        """The user's name for component k, kept for this generator ("" : the bundle's name)."""
        key = f"{self._names_key()}/{k}"
        if name.strip():
            self.w.settings.setValue(key, name.strip()[:60])
        else:
            self.w.settings.remove(key)
        self.w.edit_panel.set_component_names(self.component_names())
        self.w.edit_panel.show_edits(self.session.edits)  # the stack's titles carry the names

    def _push_edits(self, new: list[EditSpec], text: str, key: object = None, final: bool = False) -> None:
        cmd = SetEdits(self.session, self.session.edits, new, text, key)
        self.undo.push(cmd)
        if final:
            close_merging(self.undo)

    def on_component(self, k: int, strength: float, layers: tuple[int, int], final: bool) -> None:
        edits = list(self.session.edits)
        name = f"PC {k}"
        idx = next((i for i, e in enumerate(edits) if e.kind == "ganspace" and e.name == name), None)
        spec = EditSpec("ganspace", name, strength, tuple(layers), component=k)  # type: ignore[arg-type]
        if idx is not None:  # the layer keeps its label; moving its slider shows it again
            spec = dataclasses.replace(spec, label=edits[idx].label)
        if idx is None:
            if strength == 0:
                close_merging(self.undo) if final else None
                return
            edits.append(spec)
        elif edits[idx] == spec:
            close_merging(self.undo) if final else None
            return
        else:
            edits[idx] = spec
        self._push_edits(edits, f"{name} = {strength:+.1f}σ, rows {layers[0]}–{layers[1]}", ("pc", k), final)

    def on_preset(self, index: int) -> None:
        if not 0 <= index < len(self.presets):
            return
        spec = self.session.preset_edit(self.presets[index])
        self._push_edits([*self.session.edits, spec], f"Add {spec.name}")

    def on_edit_strength(self, index: int, strength: float, final: bool) -> None:
        edits = list(self.session.edits)
        if not 0 <= index < len(edits):
            return
        if edits[index].strength != strength:
            edits[index] = edits[index].with_strength(strength)
            self._push_edits(edits, f"{edits[index].name} = {strength:+.1f}", ("edit", index, edits[index].name), final)
        elif final:
            close_merging(self.undo)

    def on_edit_layers(self, index: int, layers: tuple[int, int], final: bool) -> None:
        edits = list(self.session.edits)
        if not 0 <= index < len(edits):
            return
        if edits[index].layers != tuple(layers):
            edits[index] = dataclasses.replace(edits[index], layers=tuple(layers))
            self._push_edits(edits, f"{edits[index].name}: rows {layers[0]}–{layers[1]}", ("rows", index, edits[index].name), final)
        elif final:
            close_merging(self.undo)

    def on_edit_removed(self, index: int) -> None:
        edits = list(self.session.edits)
        if 0 <= index < len(edits):
            removed = edits.pop(index)
            self._push_edits(edits, f"Remove {removed.name}")

    # ---- the stack as layers: each change one undo step --------------------------------------
    def on_edit_visibility(self, index: int, visible: bool) -> None:
        edits = list(self.session.edits)
        if 0 <= index < len(edits) and edits[index].enabled != visible:
            edits[index] = dataclasses.replace(edits[index], enabled=visible)
            self._push_edits(edits, f"{'Show' if visible else 'Hide'} {edits[index].title}")

    def on_edit_moved(self, index: int, to: int) -> None:
        edits = list(self.session.edits)
        if 0 <= index < len(edits) and 0 <= to < len(edits) and index != to:
            moved = edits.pop(index)
            edits.insert(to, moved)
            self._push_edits(edits, f"Move {moved.title} to place {to + 1}")

    def on_edit_renamed(self, index: int, label: str) -> None:
        edits = list(self.session.edits)
        if 0 <= index < len(edits) and edits[index].label != label:
            old = edits[index].title
            edits[index] = dataclasses.replace(edits[index], label=label[:200])
            self._push_edits(edits, f"Rename {old} → {edits[index].title}")

    def on_edit_duplicated(self, index: int) -> None:
        """A copy right after the edit: its own layer (a slider's copy is not the slider's)."""
        edits = list(self.session.edits)
        if not 0 <= index < len(edits):
            return
        e = edits[index]
        names = {x.name for x in edits}
        name = f"{e.name} copy"
        n = 2
        while name in names:
            name, n = f"{e.name} copy {n}", n + 1
        title = self.w.edit_panel.title_of(e)
        edits.insert(index + 1, dataclasses.replace(e, name=name, label=f"{title} copy"))
        self._push_edits(edits, f"Duplicate {title}")

    def reset_edits(self) -> None:
        if self.session.edits:
            self._push_edits([], "Reset all edits")

    def set_reach(self, visible: bool) -> None:
        self.show_reach = visible
        self.update_reach()
        self.reachShown.emit(visible)

    def update_reach(self) -> None:
        rgba = self.session.reach_rgba() if self.show_reach else None
        self.w.canvas.set_reach(rgba, self.show_reach)

    # ---- StyleCLIP --------------------------------------------------------------------------
    def start_text_edit(self, text: str, strength: float, steps: int = 100) -> None:
        s = self.session
        request = s.render_request([])
        if request is None or s.bundle is None:
            return
        ok, message = s.bundle.clip_status()
        if not ok:
            self.w.edit_panel.set_text_status(message)
            return
        fn = functools.partial(run_styleclip, s.bundle, request, text, steps)
        worker = JobWorker("styleclip", fn, token=s.image_token, threads=torch_threads_for(s.bundle.G))
        worker.progress.connect(self._on_text_progress)
        self._text_job = (text, strength)
        # bound methods only: Qt then queues the worker's signals onto the GUI thread
        worker.finished.connect(self._on_text_edit)
        worker.failed.connect(self._on_text_failed)
        worker.cancelled.connect(self._on_text_cancelled)
        self.w.edit_panel.set_text_running(True)
        self.w.edit_panel.set_text_status(f"Finding a direction for “{text}”…")
        self.jobs.start(worker)
        self.w.update_actions()

    def cancel_text(self) -> None:
        self.jobs.cancel("styleclip")

    @Slot(int, int, object)
    def _on_text_progress(self, step: int, total: int, _payload: object) -> None:
        self.w.edit_panel.show_text_progress(step, total)

    @Slot(object)
    def _on_text_edit(self, delta_w) -> None:  # noqa: ANN001
        text, strength = self._text_job
        if self._stale():
            self.w.edit_panel.set_text_running(False)
            return
        self.w.edit_panel.set_text_running(False)
        self.w.edit_panel.set_text_status("")
        key = self.session.add_direction(delta_w)
        n = self.session.num_ws
        spec = EditSpec("styleclip", f"“{text}”", strength, (0, n - 1), text=text, key=key)
        self._push_edits([*self.session.edits, spec], f"Text edit “{text}”")

    @Slot()
    def _on_text_cancelled(self) -> None:
        self._on_text_failed("cancelled before the first step")

    @Slot(str)
    def _on_text_failed(self, message: str) -> None:
        self.w.edit_panel.set_text_running(False)
        self.w.edit_panel.set_text_status(f"Text edit: {message}")

    # ---- rendering --------------------------------------------------------------------------
    def request_render(self) -> None:
        """Render the edits on the render thread; rapid requests coalesce into the newest."""
        request = self.session.render_request()
        if request is None:
            return
        self._render_id += 1
        self._render_t0[self._render_id] = time.perf_counter()
        self.renderer.submit(self._render_id, request)

    @Slot(int, object, float)
    def _on_rendered(self, request_id: int, image: np.ndarray, seconds: float) -> None:
        """Show every render newer than the one on screen: during a drag the image follows the
        slider at the render rate; the last request is always rendered (coalescing never
        drops the newest)."""
        if request_id <= self._shown_id:
            return
        self._shown_id = request_id
        self.session.apply_render(image)
        t0 = self._render_t0.get(request_id)
        self._render_t0 = {k: v for k, v in self._render_t0.items() if k > request_id}
        if t0 is not None:
            self.last_render_latency = time.perf_counter() - t0
            self.w.show_render_time(self.last_render_latency, seconds)
            self.rendered.emit(self.last_render_latency)

    @Slot(str)
    def _on_render_failed(self, message: str) -> None:
        self._on_failed(f"Render failed: {message}")

    # ---- misc -------------------------------------------------------------------------------
    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.w.show_problem("Something went wrong", message)
        self.problem.emit(message)

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.renderer.stop()
