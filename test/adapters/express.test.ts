import { describeHttpAdapter } from "./http-suite.js";
import { startExpressApp } from "./support.js";

describeHttpAdapter("express", startExpressApp);
