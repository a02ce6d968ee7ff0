// Route validators compiled at a route's first request, not when the server starts (issue #17,
// time to ready). Fastify compiles every route's request schemas with Ajv at start-up: for the
// /flamegraph routes' querystrings that meant an Ajv instance, its formats and Ajv's check of each
// schema against the JSON-schema meta-schema, ~70 ms of the main thread before /readyz, for routes
// most collectors never serve. The validators are Fastify's own (@fastify/ajv-compiler, its
// defaults), so what a request is told is unchanged; a schema error would show at the first request
// of its route (the route tests make one of each).
import { AjvCompiler } from '@fastify/ajv-compiler';

type BuildValidator = ReturnType<typeof AjvCompiler>;
type Compile = ReturnType<BuildValidator>;
type Validate = ReturnType<Compile>;

/** Fastify's `schemaController.compilersFactory.buildValidator`: the default one, each validator built at its first use. */
export function lazyValidators(build: BuildValidator = AjvCompiler()): BuildValidator {
  return ((externalSchemas, options) => {
    let compile: Compile | undefined;
    return (route: Parameters<Compile>[0]) => {
      let validate: Validate | undefined;
      const compiled = () => (validate ??= (compile ??= build(externalSchemas, options))(route));
      const lazy = ((data: unknown, ctx?: unknown) => (compiled() as (d: unknown, c?: unknown) => unknown)(data, ctx)) as Validate;
      // Fastify reads these of the validator it calls: Ajv's errors after a failure, and schemaEnv
      // (present on Ajv's validators) to pass the request as the parent of the data.
      Object.defineProperties(lazy, {
        errors: { get: () => compiled().errors },
        schemaEnv: { get: () => (compiled() as { schemaEnv?: unknown }).schemaEnv },
      });
      return lazy;
    };
  }) as BuildValidator;
}
