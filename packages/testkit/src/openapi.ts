import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Test helper: checks real responses against packages/server/openapi.yaml. The document itself is validated
 * against the OpenAPI 3.1 meta-schema; each response's status must be documented for its operation, and its
 * body must match the documented schema (JSON Schema 2020-12, compiled by Ajv), headers included.
 */

export const OPENAPI_PATH = createRequire(import.meta.url).resolve('@licensor/server/openapi.yaml');

type Json = Record<string, unknown>;

export interface ResponseLike {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

const pointerEscape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

const LOADED = Symbol.for('licensor.testkit.openApiChecks');

export class OpenApiCheck {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ReturnType<Ajv2020['compile']>>();

  private constructor(readonly spec: Json) {
    addFormats.default(this.ajv);
    // The whole document is one schema resource, so `#/components/...` references resolve inside it.
    this.ajv.addSchema({ ...spec, $id: 'openapi' });
  }

  /**
   * Loads the document and fails when it is not valid OpenAPI 3.1. Once per test process and document text
   * (held on globalThis, so the files of one worker share it, with the validators already compiled): the
   * meta-schema validation and the compilations cost ≈ 0.3 s of CPU a load, and the same document is loaded
   * by several files. A changed text is loaded and validated again.
   */
  static load(path: string = OPENAPI_PATH): Promise<OpenApiCheck> {
    const text = readFileSync(path, 'utf8');
    const g = globalThis as typeof globalThis & { [LOADED]?: Map<string, Promise<OpenApiCheck>> };
    g[LOADED] ??= new Map();
    const loaded = g[LOADED];
    const key = `${path}\0${text}`;
    let check = loaded.get(key);
    if (!check) {
      check = OpenApiCheck.validated(text);
      loaded.set(key, check);
      check.catch(() => loaded.delete(key));
    }
    return check;
  }

  private static async validated(text: string): Promise<OpenApiCheck> {
    const validator = new Validator();
    const result = await validator.validate(parse(text) as Json);
    if (!result.valid)
      throw new Error(`openapi.yaml is not valid OpenAPI: ${JSON.stringify(result.errors).slice(0, 2000)}`);
    if (validator.version !== '3.1') throw new Error(`openapi.yaml must be OpenAPI 3.1, not ${validator.version}`);
    return new OpenApiCheck(parse(text) as Json);
  }

  private at(pointer: string): unknown {
    let node: unknown = this.spec;
    for (const part of pointer.split('/').slice(1)) {
      node = (node as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    return node;
  }

  /** Follows a `$ref` to a reusable object (response, header); returns the object and its pointer. */
  private deref(pointer: string): { node: Json; pointer: string } {
    let node = this.at(pointer) as Json | undefined;
    let where = pointer;
    for (let i = 0; node && typeof node.$ref === 'string' && i < 5; i++) {
      where = (node.$ref as string).slice(1);
      node = this.at(where) as Json | undefined;
    }
    if (!node) throw new Error(`openapi.yaml has nothing at ${pointer}`);
    return { node, pointer: where };
  }

  private validate(pointer: string, value: unknown): string[] {
    let fn = this.compiled.get(pointer);
    if (!fn) {
      fn = this.ajv.compile({ $ref: `openapi#${pointer}` });
      this.compiled.set(pointer, fn);
    }
    return fn(value) ? [] : (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
  }

  /**
   * Problems of one response to `method path` (path as in the document, e.g. `/activations/{id}/check-in`);
   * empty when the response conforms.
   */
  problems(method: string, path: string, res: ResponseLike): string[] {
    const op = `/paths/${pointerEscape(path)}/${method.toLowerCase()}`;
    if (!this.at(op)) return [`${method} ${path} is not documented`];
    const responsePointer = `${op}/responses/${res.status}`;
    if (!this.at(responsePointer)) return [`${method} ${path}: status ${res.status} is not documented`];
    const { node: response, pointer } = this.deref(responsePointer);
    const problems: string[] = [];
    const content = response.content as Json | undefined;
    if (content) {
      const type = String(res.headers['content-type'] ?? '');
      if (!type.startsWith('application/json')) problems.push(`content-type ${type} is not application/json`);
      problems.push(...this.validate(`${pointer}/content/application~1json/schema`, res.body).map((p) => `body ${p}`));
    }
    for (const name of Object.keys((response.headers as Json | undefined) ?? {})) {
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) {
        problems.push(`header ${name} is missing`);
        continue;
      }
      const { pointer: headerPointer } = this.deref(`${pointer}/headers/${pointerEscape(name)}`);
      const schema = (this.at(`${headerPointer}/schema`) as Json | undefined) ?? {};
      const typed = schema.type === 'integer' ? Number(value) : value;
      problems.push(...this.validate(`${headerPointer}/schema`, typed).map((p) => `header ${name} ${p}`));
    }
    return problems;
  }
}
