import { SubmitGuard } from "submit-guard";
import { mountForm } from "../../../shared/form.js";

mountForm(document.getElementById("root"), SubmitGuard);
