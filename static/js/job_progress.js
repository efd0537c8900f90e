// A queued or running job's page (templates/admin/core/job/change_form.html): asks the status endpoint
// every two seconds, moves the progress bar and reloads once the job has finished.
(function () {
  const url = JSON.parse(document.getElementById("job-status-url").textContent);
  async function poll() {
    try {
      const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (response.ok) {
        const job = await response.json();
        if (job.finished) { window.location.reload(); return; }
        document.querySelectorAll("[data-job-progress]").forEach((el) => { el.textContent = job.progress; });
        document.querySelectorAll(".job-progress progress").forEach((bar) => {
          if (job.percent === null) { bar.removeAttribute("value"); } else { bar.value = job.percent; }
        });
        document.querySelectorAll("[data-job-status] .badge").forEach((badge) => {
          badge.className = "badge badge-" + job.status;
          badge.textContent = job.status_label;
        });
      }
    } catch (error) { /* the next poll tries again */ }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
