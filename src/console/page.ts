/**
 * The console's page, served by kbusd --http at `/`. Its script is the
 * compiled console module (/js/console/app.js), which imports the browser
 * client from /js/browser/: no bundler, no framework.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kbus console</title>
<style>
:root { font: 15px/1.4 system-ui, sans-serif; color: #222; background: #f4f5f7; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5em 1.2em; padding: .6em 1em; background: #1f2933; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; }
nav a { color: #cbd2d9; text-decoration: none; margin-right: .9em; }
nav a.current { color: #fff; border-bottom: 2px solid #4ea1f3; }
#status { font-size: .85em; color: #9aa5b1; margin-left: auto; }
main { padding: .8em; max-width: 1100px; margin: 0 auto; }
.card { background: #fff; border-radius: 6px; padding: .6em 1em; margin-bottom: .8em; box-shadow: 0 1px 2px #0002; }
.card h2 { font-size: 1em; margin: .2em 0 .5em; }
.card h3 { font-size: .9em; margin: .8em 0 .3em; }
.chart { width: 100%; height: auto; }
.chart .axis { stroke: #bbb; } .chart .axis-label { font-size: 11px; fill: #777; }
.legend .dev { margin-right: 1em; } .dev0 { color: #2f7ed8; } .dev1 { color: #e4572e; } .dev2 { color: #17a398; } .dev3 { color: #f3a712; } .dev4 { color: #8e44ad; } .dev5 { color: #555; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #eee; white-space: nowrap; }
td.names { white-space: normal; font-family: ui-monospace, monospace; font-size: .9em; }
.bar { position: relative; display: inline-block; min-width: 6em; height: 1.2em; background: #e4e7eb; border-radius: 3px; overflow: hidden; vertical-align: middle; }
.bar-fill { position: absolute; left: 0; top: 0; bottom: 0; background: #7cc4a4; }
.bar.full .bar-fill { background: #e4572e; }
.bar-text { position: relative; padding: 0 .3em; font-size: .85em; }
#bindings ul { list-style: none; padding-left: 1.1em; margin: 0; }
#bindings li { margin: .15em 0; }
.replier, .listener { font-size: .8em; padding: 0 .4em; border-radius: 3px; margin-left: .4em; }
.replier { background: #fde2d8; } .listener { background: #d9ecff; }
form { display: flex; flex-wrap: wrap; gap: .5em; align-items: center; }
input, select, button { font: inherit; padding: .3em .4em; }
input { min-width: 0; max-width: 100%; }
.messages { font-size: .9em; padding-left: 1.5em; max-height: 60vh; overflow-y: auto; }
.messages li { border-bottom: 1px solid #f0f0f0; padding: .15em 0; word-break: break-all; }
.error { color: #c0392b; }
code { font-family: ui-monospace, monospace; }
@media (max-width: 600px) { main { padding: .4em; } .card { padding: .5em .6em; } th, td { padding: .2em .3em; } }
</style>
</head>
<body>
<header>
<h1>kbus console</h1>
<nav><a href="#/">Devices</a><a href="#/bindings">Bindings</a><a href="#/tap">Tap</a><a href="#/send">Send</a></nav>
<span id="status">connecting…</span>
</header>
<main id="main"></main>
<script type="module" src="/js/console/app.js"></script>
</body>
</html>
`;
