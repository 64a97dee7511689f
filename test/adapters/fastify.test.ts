import { describeHttpAdapter } from "./http-suite.js";
import { startFastifyApp } from "./support.js";

describeHttpAdapter("fastify", startFastifyApp);
