import { isJobId } from "../../dag.js";

/** Whether a string can be a job id or lease token (both UUIDs): anything else would fail a uuid cast. */
export const isUuid: (value: string) => boolean = isJobId;
