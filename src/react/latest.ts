// Keeping a ref to the latest props: a layout effect in the browser (before any passive effect
// reads the ref), a plain effect where there is no DOM (React 18 warns about layout effects
// rendered on a server; they would not run there anyway).
import { useEffect, useLayoutEffect } from 'react';

/** `useLayoutEffect` in a browser, `useEffect` elsewhere (internal). */
export const useLatestEffect: typeof useEffect = typeof document === 'undefined' ? useEffect : useLayoutEffect;
