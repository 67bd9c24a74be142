// Stylesheets the page script imports: esbuild bundles them into live/app.css.
declare module '*.css';
