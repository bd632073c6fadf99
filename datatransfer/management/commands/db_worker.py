"""`manage.py db_worker`: django_tasks_db's worker, which first sweeps up what a worker
killed in the middle of an export or an import left behind (leftovers.py): its copies
of uploads, its `.part` files, its records still *running*, then marked interrupted.

It takes the place of django_tasks_db's command because `datatransfer` comes before
`django_tasks_db` in INSTALLED_APPS."""

from django_tasks_db.management.commands import db_worker

from datatransfer.leftovers import sweep
from datatransfer.management.rendering import render_swept


class Command(db_worker.Command):
    def handle(self, *args, **options):
        swept = sweep()
        if (swept.files or swept.records) and options["verbosity"] >= 1:
            self.stdout.write(render_swept(swept))
        super().handle(*args, **options)
