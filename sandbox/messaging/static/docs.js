// Start Swagger UI on this server's own description of the API.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // By default Swagger UI sends the description to validator.swagger.io for a
  // badge: keep everything on this machine.
  validatorUrl: null,
});
