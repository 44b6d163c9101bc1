/**
 * The console's page, served by kbusd --http at `/`. Its script is the
 * compiled console module (/js/console/app.js), which imports the browser
 * client from /js/browser/.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kbus console</title>
</head>
<body>
<p>kbus console</p>
</body>
</html>
`;
