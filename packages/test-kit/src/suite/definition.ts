import { checkDefinition } from '../checks/definition.js';
import { checkPackageJson, readPackageJson } from '../checks/package.js';
import { expectNone } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

export function definitionChecks(s: SuiteContext): ConformanceCheck[] {
  const { plugin, options } = s;
  const checks = [
    s.check('definition', 'has a valid npm name, semver version, kind, object config schema and create()', async () => {
      expectNone(
        'definition problems',
        checkDefinition(plugin).filter((p) => !p.startsWith('apiVersion')),
      );
    }),
    s.check('definition', "declares an apiVersion semver range that accepts this core's PLUGIN_API_VERSION", async () => {
      expectNone(
        'apiVersion problems',
        checkDefinition(plugin).filter((p) => p.startsWith('apiVersion')),
      );
    }),
  ];
  if (options.packageJson !== undefined) {
    const location = options.packageJson;
    checks.push(
      s.check('definition', 'package.json agrees with the definition (name, version, reactiveFabric range and kind, keyword, core as a peer)', async () => {
        const pkg = await readPackageJson(location);
        expectNone('package.json problems', checkPackageJson(pkg, plugin));
      }),
    );
  }
  return checks;
}
