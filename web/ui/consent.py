"""UI of the consent ledger: list imports (any role); for compliance officers, looking
up a person's consent, downloading a proof, erasing."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from consent import ImportFormatError, ImportNotFound, InvalidInput, LedgerEmpty, SubjectNotFound
from web import imports as background_imports
from web.access import actor_name, record_action, requires
from web.runtime import runtime

bp = Blueprint("consent_ui", __name__, url_prefix="/consent", template_folder="../templates")

OFFICERS = ("compliance", "admin")
WRITERS = ("marketer", "compliance", "admin")


class LookupForm(FlaskForm):
    class Meta:
        csrf = False  # a read-only GET search

    email = StringField("Email address", validators=[DataRequired(), Length(max=320)])


class ImportForm(FlaskForm):
    purpose = SelectField("Purpose the list consented to", validators=[DataRequired()])
    file = FileField("CSV file (UTF-8, with an email column)", validators=[FileRequired()])
    check_deliverability = BooleanField("Also check that each domain accepts mail (DNS)")


class EraseForm(FlaskForm):
    email = StringField(
        "Email address", validators=[DataRequired(), Email(check_deliverability=False)]
    )
    reason = TextAreaField(
        "Reason (e.g. the request reference)", validators=[DataRequired(), Length(min=5, max=2000)]
    )


@bp.route("")
@requires(*OFFICERS)
def lookup() -> Any:
    form = LookupForm(request.args)
    timeline = None
    head = None
    ledger = runtime().consent
    if form.email.data:
        try:
            timeline = ledger.timeline(form.email.data)
            record_action("consent.subject.view", target=f"subject:{timeline.subject}")
        except InvalidInput as exc:
            flash(exc.message, "error")
        except SubjectNotFound:
            flash("The ledger holds nothing about this address.", "info")
    try:
        head = ledger.latest_tree_head()
    except LedgerEmpty:
        head = None
    return render_template(
        "ui/consent.html",
        form=form,
        timeline=timeline,
        head=head,
        erase_form=EraseForm(email=form.email.data),
    )


@bp.route("/proof")
@requires(*OFFICERS)
def proof() -> Any:
    email = request.args.get("email", "")
    ledger = runtime().consent
    try:
        document = ledger.proof(email)
    except (InvalidInput, SubjectNotFound, LedgerEmpty) as exc:
        flash(str(exc), "error")
        return redirect(url_for("consent_ui.lookup", email=email))
    record_action("consent.proof", target=f"subject:{ledger.subject_id(email)}")
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="consent-proof.json"'},
    )


@bp.route("/erasure", methods=["POST"])
@requires(*OFFICERS)
def erase() -> Any:
    form = EraseForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("consent_ui.lookup", email=form.email.data or ""))
    ledger = runtime().consent
    try:
        subject_id = ledger.subject_id(form.email.data)
        event = ledger.erase(form.email.data, actor=actor_name())
    except (InvalidInput, SubjectNotFound) as exc:
        flash(str(exc), "error")
        return redirect(url_for("consent_ui.lookup", email=form.email.data))
    record_action("consent.erase", target=f"subject:{subject_id}", reason=form.reason.data)
    flash("Erased." if event else "This address was erased already.", "info")
    return redirect(url_for("consent_ui.lookup", email=form.email.data))


@bp.route("/imports", methods=["GET", "POST"])
@requires(*WRITERS)
def imports() -> Any:
    rt = runtime()
    form = ImportForm()
    form.purpose.choices = [(p.name, p.name) for p in rt.consent.purposes()]
    if form.validate_on_submit():
        upload = form.file.data
        try:
            job = rt.imports.submit(
                upload.stream,
                form.purpose.data,
                actor=actor_name(),
                check_deliverability=form.check_deliverability.data,
            )
        except ImportFormatError as exc:
            flash(f"The file was not imported: {exc}", "error")
        except InvalidInput as exc:
            flash(str(exc), "error")
        else:
            record_action(
                "consent.import",
                target=f"import:{job.id}",
                details={"purpose": job.purpose, "lines": max(0, job.total_lines - 1)},
            )
            background_imports.start(rt, job.id, wait=1)
            return redirect(url_for("consent_ui.import_job", import_id=job.id))
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")
    return render_template("ui/imports.html", form=form, jobs=rt.imports.recent())


@bp.route("/imports/<import_id>")
@requires(*WRITERS)
def import_job(import_id: str) -> Any:
    queue = runtime().imports
    try:
        job = queue.get(import_id)
    except ImportNotFound:
        abort(404)
    shown = background_imports.REJECTED_SHOWN
    rejected = queue.rejections(import_id, limit=shown)
    return render_template("ui/import_job.html", job=job, rejected=rejected, shown=shown)
