// Copy buttons beside the pull commands. Progressive enhancement: without this script
// the commands are plain text to select and copy.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("code.command").forEach(function (code) {
    var button = document.createElement("button");
    var tool = code.parentNode.querySelector(".tool");
    button.type = "button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the " + (tool ? tool.textContent : "") + " command");
    var status = document.createElement("span");
    status.setAttribute("role", "status");
    status.className = "copied";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(code.textContent).then(
        function () { status.textContent = "Copied"; },
        function () { status.textContent = "Select the text to copy it"; }
      );
    });
    code.after(button, status);
  });
});
