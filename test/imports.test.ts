/**
 * No import circles anywhere in the code base, type-only imports included
 * (the rule is `.dependency-cruiser.json`'s, the same `npm run lint:imports`
 * prints). A circle is where a module that reads a shape imports the module
 * that builds it: the request-context types live in modules of their own
 * (lib/runtime/subgraph-context.ts, gateway/src/context.ts) for that reason.
 *
 * dependency-cruiser resolves imports as the TypeScript compiler does (the
 * `.js` specifiers of NodeNext onto the `.ts` sources, with the project's
 * tsconfig), and reports each circle as the chain of modules it goes through.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';

const config = JSON.parse(readFileSync(path.join(ROOT, '.dependency-cruiser.json'), 'utf8')) as {
  forbidden: IForbiddenRuleType[];
  options: { doNotFollow: { path: string }; exclude: { path: string }; tsPreCompilationDeps: boolean; tsConfig: { fileName: string } };
};

/** Every circle dependency-cruiser finds below `directories` of `base`, as `a → b → a` chains, and how many modules it read. */
async function circles(base: string, directories: string[], tsConfigFile: string): Promise<{ circles: string[]; modules: number }> {
  const previous = process.cwd();
  process.chdir(base);
  try {
    const tsConfig = JSON.parse(readFileSync(tsConfigFile, 'utf8')) as Record<string, unknown>;
    const result = await cruise(directories, {
      ruleSet: { forbidden: config.forbidden },
      doNotFollow: config.options.doNotFollow,
      exclude: config.options.exclude,
      tsPreCompilationDeps: config.options.tsPreCompilationDeps,
      tsConfig: { fileName: tsConfigFile },
      validate: true,
    }, {}, { tsConfig });
    const output = result.output as ICruiseResult;
    const found = output.summary.violations
      .filter((v) => v.rule.name === 'no-circular')
      .map((v) => [v.from, ...(v.cycle ?? []).map((step) => (typeof step === 'string' ? step : step.name))].join(' → '));
    return { circles: found, modules: output.summary.totalCruised };
  } finally {
    process.chdir(previous);
  }
}

describe('imports', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-imports-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('has no import circle in lib, gateway, subgraphs, scripts, test or the web client', async () => {
    const found = await circles(ROOT, ['lib', 'gateway', 'subgraphs', 'scripts', 'test', 'web/src'], path.join(ROOT, config.options.tsConfig.fileName));
    expect(found.circles).toEqual([]);
    expect(found.modules).toBeGreaterThan(150);
  });

  it('sees a circle made only of type imports, through .js specifiers (the check can fail)', async () => {
    writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    writeFileSync(path.join(scratch, 'context.ts'), "import type { Runtime } from './runtime.js';\nexport interface Context { runtime: Runtime }\n");
    writeFileSync(path.join(scratch, 'runtime.ts'), "import type { Context } from './context.js';\nexport interface Runtime { context: Context }\n");
    writeFileSync(path.join(scratch, 'alone.ts'), "import type { Context } from './context.js';\nexport type Alone = Context;\n");
    const found = (await circles(scratch, ['.'], path.join(scratch, 'tsconfig.json'))).circles.join('\n');
    expect(found).toMatch(/context\.ts → runtime\.ts → context\.ts|runtime\.ts → context\.ts → runtime\.ts/);
    expect(found).not.toMatch(/alone/);
  });
});
