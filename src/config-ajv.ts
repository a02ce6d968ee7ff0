// ajv set up with the config schema's formats and keywords (src/config-rules.ts). Build time and
// tests only: scripts/gen-config-validator.mjs precompiles the collector's validator with it, so
// the collector loads neither ajv nor TypeBox; tests compile schemas of their own (toy sensors).
import { _, Ajv, Name, type KeywordCxt, type ValidateFunction } from 'ajv';
import { checkerFor, type SchemaNode } from './config-errors.js';
import { CONFIG_FORMATS, CONFIG_KEYWORDS } from './config-rules.js';

/**
 * ajv with the schema's formats and keywords. With `source`, its code names them as
 * CONFIG_FORMATS and CONFIG_KEYWORDS, which the generated module imports from config-rules.js.
 */
export function configAjv(source = false): Ajv {
  // The schema is ours and tested and configError words the messages: no meta-schema check and
  // no ajv messages; at run time no optimisation pass either (it costs more than it saves once).
  const ajv = new Ajv({
    useDefaults: true, verbose: true, strictTypes: false, strictRequired: false, strictTuples: false,
    validateSchema: false, messages: false,
    code: source ? { source: true, esm: true, lines: true, formats: _`CONFIG_FORMATS` } : { optimize: false },
  });
  ajv.addVocabulary(['typeError', 'quotedKeys', 'defaultText']);
  for (const [name, valid] of Object.entries(CONFIG_FORMATS)) ajv.addFormat(name, valid);
  for (const [name, kw] of Object.entries(CONFIG_KEYWORDS)) {
    ajv.addKeyword({
      keyword: name, type: kw.type, errors: true, modifying: kw.modifying,
      ...(kw.beforeValues ? { before: 'additionalProperties' } : {}),
      // The error carries the check's words; configError (src/config-errors.ts) turns them into the message.
      error: { message: name, params: ({ params }) => _`{problem: ${params.problem}}` },
      code(cxt: KeywordCxt) {
        const check = cxt.gen.scopeValue('keyword', { ref: kw.problem, code: _`CONFIG_KEYWORDS.${new Name(name)}.problem` });
        const problem = cxt.gen.const('problem', _`${check}(${cxt.schemaValue}, ${cxt.data})`);
        cxt.setParams({ problem });
        cxt.fail(_`${problem} !== undefined`);
      },
    });
  }
  return ajv;
}

/** A copy of `schema` where only keys without a default must be present (a file may leave any other out). */
export function requireOnlyUndefaulted(schema: SchemaNode): SchemaNode {
  const node: SchemaNode = { ...schema };
  if (node.properties) {
    node.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, requireOnlyUndefaulted(v)]));
    const props = node.properties;
    const required = (node.required ?? []).filter((k) => props[k]?.default === undefined && props[k]?.defaultText === undefined);
    if (required.length) node.required = required;
    else delete node.required;
  }
  if (node.items) node.items = requireOnlyUndefaulted(node.items);
  if (typeof node.additionalProperties === 'object') node.additionalProperties = requireOnlyUndefaulted(node.additionalProperties);
  return node;
}

/** `schema` as the validator sees it: plain JSON (TypeBox's symbols dropped), only undefaulted keys required. */
export function validatedSchema(schema: object): SchemaNode {
  return requireOnlyUndefaulted(JSON.parse(JSON.stringify(schema)) as SchemaNode);
}

/**
 * Checks a document against a config schema and fills in its defaults, in place; throws the
 * CONFIG_INVALID error naming the first wrong key. Any schema of this shape (tests add sensors).
 */
export function configChecker(schema: object): (doc: unknown) => unknown {
  const root = validatedSchema(schema);
  const validate: ValidateFunction = configAjv().compile(root);
  return checkerFor(root, validate);
}
