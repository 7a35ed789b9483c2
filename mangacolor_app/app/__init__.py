"""The application layer between the front ends (CLI, editor) and inference: one page's job (:mod:`.page_job`)."""
