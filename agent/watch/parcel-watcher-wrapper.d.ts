/** Types for @parcel/watcher's binding wrapper, which the package ships untyped. */
declare module '@parcel/watcher/wrapper.js' {
  /** Wraps a loaded native binding into the public @parcel/watcher API. */
  export function createWrapper(binding: unknown): typeof import('@parcel/watcher');
}
