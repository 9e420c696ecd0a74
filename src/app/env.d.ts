/// <reference types="vite/client" />
declare const __V86_VERSION__: string;
