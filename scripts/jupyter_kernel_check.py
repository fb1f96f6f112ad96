#!/usr/bin/env python3
"""Drives aft's Jupyter kernel with the real Jupyter client (jupyter_client, nbconvert) and
prints what it observed as JSON; Tests/AFTShellTests/JupyterKernelTests.swift asserts on it.

    python3 scripts/jupyter_kernel_check.py --aft .build/release/aft --work DIR [--notebook examples/quickstart.ipynb]

The kernelspec is installed with `aft kernel install --prefix WORK/prefix` and found through
JUPYTER_PATH, as `jupyter kernelspec list` finds it; the kernel is started from that spec by
KernelManager. With --notebook, the notebook is executed by `jupyter nbconvert --execute`, turned
into HTML, and photographed by headless Chromium (when installed).
"""
import argparse
import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import time


CHART_COLOURS = {"purple": (0x94, 0x00, 0xd3), "green": (0x00, 0x9e, 0x73), "sky": (0x56, 0xb4, 0xe9), "band": (0xc6, 0xdb, 0xef)}


def chart_pixels(data):
    """Pixels of gnuplot's line colours (pngcairo's first three) and of aft's Wilson band in a PNG
    (Pillow decodes it): a chart drawn there has thousands; a page without one, none."""
    import io
    import numpy as np
    from PIL import Image
    a = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)
    return {name: int((np.abs(a - np.array(c, dtype=np.int16)) <= 12).all(axis=-1).sum()) for name, c in CHART_COLOURS.items()}


class Driver:
    def __init__(self, work):
        from jupyter_client.manager import KernelManager
        self.work = work
        self.log_path = os.path.join(work, "kernel.log")
        self.km = KernelManager(kernel_name="aft")
        self.km.start_kernel(stderr=open(self.log_path, "w"), cwd=work)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code, timeout=900):
        """Executes a cell; returns its reply content and every iopub output (type, content) in order."""
        kc = self.kc
        msg_id = kc.execute(code)
        outputs, t0 = [], time.time()
        while True:
            msg = kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            t = msg["msg_type"]
            if t == "status" and msg["content"]["execution_state"] == "idle":
                break
            if t not in ("status", "execute_input"):
                outputs.append((t, msg["content"]))
        while True:
            reply = kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return {"reply": reply["content"], "outputs": outputs, "seconds": time.time() - t0}

    @staticmethod
    def text(cell):
        return "".join(c["text"] for t, c in cell["outputs"] if t == "stream")

    def checks(self, runs, out):
        kc = self.kc
        info = kc.kernel_info(reply=True, timeout=30)["content"]
        out["kernel_info"] = {"language": info["language_info"]["name"], "file_extension": info["language_info"]["file_extension"],
                              "protocol_version": info["protocol_version"], "pygments_lexer": info["language_info"].get("pygments_lexer")}

        # A model, an evaluation of 10 items: streamed text, progress as one updating line, a table.
        c = self.run(f"set out={runs}\nload smollm2-135m\nr = eval arc-easy limit=10")
        disp = [x for t, x in c["outputs"] if t == "display_data" and "display_id" in x.get("transient", {})]
        updates = [x for t, x in c["outputs"] if t == "update_display_data"]
        results = [x for t, x in c["outputs"] if t == "execute_result"]
        out["eval"] = {"status": c["reply"]["status"], "stream": self.text(c),
                       "progress_displays": len(disp), "progress_updates": len(updates),
                       "progress_ids_match": all(u["transient"]["display_id"] in {d["transient"]["display_id"] for d in disp} for u in updates),
                       "last_progress": updates[-1]["data"]["text/plain"] if updates else None,
                       "execute_results": len(results),
                       "markdown": results[0]["data"].get("text/markdown") if results else None,
                       "plain": results[0]["data"].get("text/plain") if results else None,
                       "execution_count": c["reply"].get("execution_count"),
                       "result_count": results[0].get("execution_count") if results else None,
                       "output_messages": len(c["outputs"])}

        # A chart: an extracted vector's behaviour curve, plotted inline.
        c = self.run("extract caa/sycophancy layer=12 limit=16 as syc\nb = eval caa/sycophancy with syc scale=-2,0,2 limit=6\nplot b")
        imgs = [x for t, x in c["outputs"] if t == "display_data" and "image/png" in x["data"]]
        pngs = [base64.b64decode(x["data"]["image/png"]) for x in imgs]
        out["plot"] = {"status": c["reply"]["status"], "evalue": c["reply"].get("evalue"), "images": len(imgs),
                       "png_ok": [p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs],
                       "png_chart_pixels": [chart_pixels(p) for p in pngs],
                       "svg": ["<svg" in x["data"].get("image/svg+xml", "") for x in imgs],
                       "plain_fallback": [bool(x["data"].get("text/plain")) for x in imgs]}

        # Completion, inspection, is_complete.
        def complete(code, pos=None):
            r = kc.complete(code, len(code) if pos is None else pos, reply=True, timeout=30)["content"]
            return {"matches": r["matches"], "cursor_start": r["cursor_start"], "cursor_end": r["cursor_end"]}
        out["complete"] = {"swe": complete("swe"), "set plot=in": complete("set plot=in"),
                           "two statements": complete("load smollm2-135m; sw"), "variable": complete("show ")}
        ins = kc.inspect("r = train layer=3", 6, reply=True, timeout=30)["content"]
        out["inspect"] = {"found": ins["found"], "text": ins["data"].get("text/plain", "")}
        def is_complete(code):
            msg_id = kc.is_complete(code)
            while True:
                m = kc.get_shell_msg(timeout=30)
                if m["parent_header"].get("msg_id") == msg_id:
                    return m["content"]["status"]
        out["is_complete"] = {code: is_complete(code) for code in ["eval arc-easy limit=5", 'generate "unfinished']}

        # A cell with two errors: both are reported, nothing runs.
        c = self.run("eval arc-easy limt=5\nfrobnicate 3")
        out["two_errors"] = {"status": c["reply"]["status"], "ename": c["reply"].get("ename"),
                             "traceback": "\n".join(c["reply"].get("traceback", [])),
                             "error_messages": len([1 for t, _ in c["outputs"] if t == "error"])}

        # Interrupt (SIGINT, the kernelspec's interrupt_mode) during a long evaluation.
        msg_id = kc.execute("e = eval hellaswag limit=2000")
        t_first = None
        while t_first is None:
            msg = kc.get_iopub_msg(timeout=300)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "update_display_data":
                t_first = time.time()
        time.sleep(1.0)
        t0 = time.time()
        self.km.interrupt_kernel()
        reply = None
        while reply is None:
            m = kc.get_shell_msg(timeout=60)
            if m["parent_header"].get("msg_id") == msg_id:
                reply = m["content"]
        took = time.time() - t0
        shown = self.run("e")
        alive = self.run("help eval")
        out["interrupt"] = {"seconds": took, "status": reply["status"], "ename": reply.get("ename"),
                            "shown": (shown["outputs"][-1][1]["data"]["text/plain"] if shown["outputs"] and "data" in shown["outputs"][-1][1] else self.text(shown)),
                            "shown_status": shown["reply"]["status"], "alive_status": alive["reply"]["status"],
                            "alive_text": self.text(alive)[:200]}

        # A message signed with another key is dropped: no reply, nothing runs, the kernel logs it.
        from jupyter_client.session import Session
        bad = Session(key=b"not-the-connection-key")
        m = bad.msg("execute_request", content={"code": "forged = eval arc-easy limit=2", "silent": False, "store_history": True,
                                                "user_expressions": {}, "allow_stdin": False})
        bad.send(kc.shell_channel.socket, m)
        try:
            r = kc.get_shell_msg(timeout=3)
            got_reply = r["parent_header"].get("msg_id") == m["header"]["msg_id"]
        except queue.Empty:
            got_reply = False
        after = self.run("forged")
        with open(self.log_path) as f:
            log = f.read()
        out["bad_signature"] = {"got_reply": got_reply, "forged_ran": after["reply"]["status"] == "ok",
                                "logged": "bad signature" in log, "alive": self.run("help")["reply"]["status"]}

        out["history"] = kc.history(hist_access_type="tail", n=3, reply=True, timeout=30)["content"]["history"]

        # Restart clears the state; shutdown ends the process.
        self.km.restart_kernel(now=False)
        self.kc.wait_for_ready(timeout=60)
        c = self.run("r")
        out["restart"] = {"status": c["reply"]["status"], "evalue": c["reply"].get("evalue")}
        self.km.shutdown_kernel(now=False)
        out["shutdown"] = {"alive": self.km.is_alive()}


def notebook(nb_path, work, out):
    """Executes the notebook with nbconvert, renders HTML, photographs it with Chromium."""
    import nbformat
    nb_dir = os.path.join(work, "nb")
    os.makedirs(nb_dir, exist_ok=True)
    src = os.path.join(nb_dir, os.path.basename(nb_path))
    shutil.copy(nb_path, src)
    t0 = time.time()
    r = subprocess.run(["jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=3600",
                        "--output", "executed.ipynb", src], capture_output=True, text=True, cwd=nb_dir)
    res = {"nbconvert_rc": r.returncode, "nbconvert_stderr": r.stderr[-3000:], "seconds": time.time() - t0}
    executed = os.path.join(nb_dir, "executed.ipynb")
    if r.returncode != 0 or not os.path.exists(executed):
        out["notebook"] = res
        return
    nb = nbformat.read(executed, as_version=4)
    images, errors, cells = 0, 0, 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cells += 1
        for o in cell.get("outputs", []):
            if o.get("output_type") in ("display_data", "execute_result") and "image/png" in o.get("data", {}):
                images += 1
            if o.get("output_type") == "error":
                errors += 1
    res.update({"code_cells": cells, "images": images, "errors": errors, "executed": executed})
    h = subprocess.run(["jupyter", "nbconvert", "--to", "html", "--output", "executed", executed], capture_output=True, text=True, cwd=nb_dir)
    html = os.path.join(nb_dir, "executed.html")
    res["html_rc"] = h.returncode
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    res["chromium"] = chromium
    if chromium and h.returncode == 0:
        shot = os.path.join(nb_dir, "screenshot.png")
        s = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,9000",
                            f"--screenshot={shot}", "file://" + html], capture_output=True, text=True, timeout=300)
        res["screenshot_rc"] = s.returncode
        if os.path.exists(shot):
            with open(shot, "rb") as f:
                data = f.read()
            res["screenshot"] = shot
            res["screenshot_chart_pixels"] = chart_pixels(data)
    out["notebook"] = res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aft", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--notebook")
    ap.add_argument("--skip-kernel", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    prefix = os.path.join(a.work, "prefix")
    inst = subprocess.run([a.aft, "kernel", "install", "--prefix", prefix], capture_output=True, text=True)
    os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")
    specs = subprocess.run(["jupyter", "kernelspec", "list", "--json"], capture_output=True, text=True)
    out = {"install": {"rc": inst.returncode, "stdout": inst.stdout, "stderr": inst.stderr},
           "kernelspecs": json.loads(specs.stdout).get("kernelspecs", {}) if specs.returncode == 0 else {}}
    if not a.skip_kernel:
        d = Driver(a.work)
        try:
            d.checks(os.path.join(a.work, "runs"), out)
        except Exception as e:   # what was observed so far still goes out, with the failure
            out["failure"] = f"{type(e).__name__}: {e}"
        finally:
            if d.km.is_alive():
                d.km.shutdown_kernel(now=True)
    if a.notebook:
        notebook(a.notebook, a.work, out)
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
