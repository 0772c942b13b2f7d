// Swagger UI on the admin port, reading the document next to it. "Try it out" calls the document's server,
// the proxy port: trackgate answers that origin's CORS requests only where routing.corsOrigins lists it.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // A token pasted into "Authorize" would otherwise be kept in localStorage.
  persistAuthorization: false,
  tryItOutEnabled: false,
});
