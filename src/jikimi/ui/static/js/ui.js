// Small behaviours of the pages, no framework: each starts only where its element is.
import { startBreakReminder } from "./break.js";
import { followImport } from "./progress.js";

startBreakReminder(document.body);
const importBox = document.getElementById("import");
if (importBox) followImport(importBox);
