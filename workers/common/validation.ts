import { z } from "zod";

/**
 * Zod's words for the two complaints clients meet most, said as this API says the rest: a field
 * left out is "required" (zod: "Invalid input: expected string, received undefined", or
 * "expected nonoptional" for one the OpenAPI layer gives a default), and an id that is not one is
 * "a UUID" (zod: "Invalid GUID", the name of a format no client sends on purpose). A schema's own
 * message still wins. Zod keeps this per isolate: both workers' entry modules import this file
 * first, so every parse (bodies, queries, queue messages) speaks alike.
 */
z.config({
  customError: (issue) => {
    if (issue.code === "invalid_type" && issue.input === undefined) return "required";
    if (issue.code === "invalid_format" && issue.format === "guid") return "a UUID";
    return undefined;
  },
});
