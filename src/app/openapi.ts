import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** OpenAPI at /docs (UI) and /docs-json, generated from the controllers and DTOs. */
export function setupOpenApi(app: INestApplication): void {
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('AI Waste Coach API')
      .setDescription(
        'REST API of the AI Waste Coach mobile app. Errors are RFC 9457 problem details ' +
          '(application/problem+json) with a stable `code`.',
      )
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json', useGlobalPrefix: false });
}
