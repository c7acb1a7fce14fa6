// The dashboard's files imported `with { type: "text" }` (assets.ts): Bun hands over their text.
declare module "uplot/dist/uPlot.min.css" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "*/client.js" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
