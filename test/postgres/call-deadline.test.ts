import { describeCallDeadline } from "./support/call-deadline.js";

describeCallDeadline(4);
