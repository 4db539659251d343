"""History tab: past jobs, and the job endpoints (`/list_jobs`, `/job_status`, `/job_result`, `/rerun_job`,
`/cancel_job`, `/delete_job`) that scripts use to find a job by its id, also after a restart.
"""

from __future__ import annotations

import datetime

import gradio as gr

from pipelines.base import FEATURES
from pipelines.errors import InputError
from queueing.studio import Studio, job_summary

from .common import client_of, job_event, refusal, result_panel, run_accepted, user_of

COLUMNS = ["job", "feature", "pipeline", "status", "started", "took (s)", "stage / error"]


def _when(stamp) -> str:
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else ""


def _row(record: dict) -> list:
    took = round(record["finished"] - record["started"], 1) if record.get("finished") and record.get("started") else ""
    return [record["id"], FEATURES.get(record["feature"], record["feature"]), record["pipeline"], record["status"],
            _when(record.get("created")), took, record.get("error") or record.get("stage") or ""]


def build(studio: Studio, demo: gr.Blocks) -> None:
    def list_jobs(limit: float = 50, feature: str = "", request: gr.Request = None) -> list[dict]:
        """The latest jobs, newest first: id, feature, pipeline, status, stage, progress, times and error."""
        try:
            count = int(limit)
        except (TypeError, ValueError, OverflowError):
            raise gr.Error("limit must be a whole number between 1 and 1000.", print_exception=False) from None
        if not 1 <= count <= 1000:
            raise gr.Error("limit must be between 1 and 1000.", print_exception=False)
        if feature and feature not in FEATURES:
            raise gr.Error(f"feature must be empty or one of: {', '.join(FEATURES)}.", print_exception=False)
        owner = studio.owner_filter(user_of(request))
        return [job_summary(r) for r in studio.jobs.recent(count, owner, feature or None)]

    def job_status(job_id: str, request: gr.Request = None) -> dict:
        """One job's status, stage, progress, times and error (queued, running, done, failed, cancelled, interrupted)."""
        try:
            return job_summary(studio.find_job(str(job_id or "").strip(), user_of(request)))
        except InputError as exc:
            raise refusal(exc) from exc

    def job_result(job_id: str, request: gr.Request = None):
        """A finished job's outputs: (viewer GLB, file in its format, metadata), as its endpoint returned them."""
        try:
            return studio.result(str(job_id or "").strip(), user_of(request))
        except InputError as exc:
            raise refusal(exc) from exc

    def cancel_job(job_id: str, request: gr.Request = None) -> dict:
        """Cancel a queued or running job (a running one has its worker stopped); returns its status."""
        job_id, user = str(job_id or "").strip(), user_of(request)
        if not studio.cancel(job_id, user):
            try:
                record = studio.find_job(job_id, user)
            except InputError as exc:
                raise refusal(exc) from exc
            raise gr.Error(f"Job {job_id} is {record['status']}; only queued and running jobs can be cancelled.",
                           print_exception=False)
        return {"id": job_id, "cancelling": True}

    def delete_job(job_id: str, request: gr.Request = None) -> dict:
        """Delete a finished job with its files."""
        job_id = str(job_id or "").strip()
        try:
            record = studio.find_job(job_id, user_of(request))
        except InputError as exc:
            raise refusal(exc) from exc
        if record["status"] in ("queued", "running"):
            raise gr.Error(f"Job {job_id} is {record['status']}; cancel it first.", print_exception=False)
        studio.jobs.delete(job_id)
        return {"id": job_id, "deleted": True}

    async def rerun_job(job_id: str, request: gr.Request = None, progress=gr.Progress()):
        """Run a past job again with the same feature, pipeline, parameters and input files; returns like its endpoint."""
        try:
            job = studio.rerun(str(job_id or "").strip(), user_of(request), client_of(studio, request))
        except Exception as exc:  # noqa: BLE001 - every refusal becomes a message
            raise refusal(exc) from exc
        return await run_accepted(studio, job, progress)

    def table(feature: str = "", request: gr.Request = None) -> list[list]:
        return [_row(r) for r in studio.jobs.recent(200, studio.owner_filter(user_of(request)), feature or None)]

    def show(evt: gr.SelectData, rows, request: gr.Request = None):
        """Open the selected job: its id and status, and its result in the viewer when it has one."""
        try:
            job_id = rows.iloc[evt.index[0], 0] if hasattr(rows, "iloc") else rows[evt.index[0]][0]
        except (IndexError, KeyError, TypeError):
            return "", None, None, None, None
        user = user_of(request)
        record = studio.job(str(job_id), user)
        if record is None:
            return "", None, None, None, None
        status = job_summary(record)
        try:
            glb, path, metadata = studio.result(record["id"], user)
        except InputError:
            return record["id"], status, None, None, None
        return record["id"], status, glb, path, metadata

    with gr.Tab("History", id="history") as tab:
        gr.Markdown("Past jobs, newest first. Select one to open its result; run it again with the same "
                    "parameters and files, or delete it with its files. Scripts use `/list_jobs`, "
                    "`/job_status` and `/job_result` with the id every job reports as it starts.")
        with gr.Row():
            feature = gr.Dropdown([("all features", ""), *[(label, key) for key, label in FEATURES.items()]],
                                  value="", label="Feature")
            refresh = gr.Button("Refresh")
        jobs = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, label="Jobs")
        with gr.Row():
            with gr.Column():
                selected = gr.Textbox(label="Job id (Enter opens it)", interactive=True)
                with gr.Row():
                    rerun = gr.Button("Run again", variant="primary")
                    cancel = gr.Button("Cancel")
                    delete = gr.Button("Delete", variant="stop")
                job_info = gr.JSON(label="Job status")
            with gr.Column():
                viewer, download, metadata = result_panel()

        demo.load(table, feature, jobs, api_visibility="private", concurrency_limit=None)
        refresh.click(table, feature, jobs, api_visibility="private", concurrency_limit=None)
        feature.change(table, feature, jobs, api_visibility="private", concurrency_limit=None)
        tab.select(table, feature, jobs, api_visibility="private", concurrency_limit=None)
        jobs.select(show, jobs, [selected, job_info, viewer, download, metadata], api_visibility="private",
                    concurrency_limit=None)
        # `selected` refuses a bad value as `job_id` for every event that reads it.
        job_event(rerun.click, rerun_job, [selected], [viewer, download, metadata], "rerun_job").then(
            table, feature, jobs, api_visibility="private", concurrency_limit=None)
        selected.submit(job_result, selected, [viewer, download, metadata], api_name="job_result",
                        concurrency_limit=None)
        cancel.click(cancel_job, selected, job_info, api_name="cancel_job", concurrency_limit=None)
        delete.click(delete_job, selected, job_info, api_name="delete_job", concurrency_limit=None).then(
            table, feature, jobs, api_visibility="private", concurrency_limit=None)
        status_event = {"concurrency_id": "status", "concurrency_limit": None}
        gr.api(list_jobs, api_name="list_jobs", **status_event)
        gr.api(job_status, api_name="job_status", **status_event)
