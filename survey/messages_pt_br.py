"""Brazilian Portuguese for every message of the survey (the English text is the message id)."""

PT_BR = {
    # survey.html
    "Customer survey": "Pesquisa de satisfação",
    "Thank you for contacting our support team": "Obrigado por falar com o nosso atendimento",
    "You have already answered. You can change your answer until %(until)s.": (
        "Você já respondeu. Você pode alterar a sua resposta até %(until)s."
    ),
    "Two quick questions about your last contact with us. It takes less than a minute.": (
        "Duas perguntas rápidas sobre o seu último contato conosco. Leva menos de um minuto."
    ),
    "Please check your answer": "Confira a sua resposta",
    "Your score is recorded. You can add to your answer below and send it.": (
        "A sua nota foi registrada. Você pode completar a sua resposta abaixo e enviá-la."
    ),
    "How likely are you to recommend us to a friend or colleague?": (
        "Qual a probabilidade de você nos recomendar a um amigo ou colega?"
    ),
    "Score": "Nota",
    "0 - Not at all likely": "0 - Nada provável",
    "10 - Extremely likely": "10 - Extremamente provável",
    "How satisfied are you with the help you received?": (
        "Qual o seu grau de satisfação com o atendimento que você recebeu?"
    ),
    "Very dissatisfied": "Muito insatisfeito",
    "Dissatisfied": "Insatisfeito",
    "Neither satisfied nor dissatisfied": "Nem satisfeito nem insatisfeito",
    "Satisfied": "Satisfeito",
    "Very satisfied": "Muito satisfeito",
    "Anything you would like to tell us? (optional)": (
        "Algo que você gostaria de nos contar? (opcional)"
    ),
    "Up to 1,000 characters. Please do not include passwords or card numbers.": (
        "Até 1.000 caracteres. Por favor, não inclua senhas nem números de cartão."
    ),
    "Leave this field empty": "Deixe este campo em branco",
    "Send my answer": "Enviar minha resposta",
    "Your answer is linked to your support contact, not to your e-mail address.": (
        "A sua resposta fica ligada ao seu atendimento, não ao seu endereço de e-mail."
    ),
    # survey/form.py
    "Choose a score from 0 to 10.": "Escolha uma nota de 0 a 10.",
    "Choose a rating from 1 to 5.": "Escolha uma avaliação de 1 a 5.",
    "Your comment is longer than 1,000 characters; please shorten it.": (
        "O seu comentário tem mais de 1.000 caracteres; por favor, encurte-o."
    ),
    "Choose a score, or a rating below, before sending.": (
        "Escolha uma nota, ou uma avaliação abaixo, antes de enviar."
    ),
    # survey/pages.py and survey/app.py
    "This survey link has expired": "Este link da pesquisa expirou",
    "Survey links work for a limited time after your support contact. Thank you all the "
    "same: if you would like to tell us something, reply to our e-mail.": (
        "Os links da pesquisa valem por um tempo limitado após o seu atendimento. Obrigado "
        "mesmo assim: se quiser nos contar algo, responda ao nosso e-mail."
    ),
    "This survey link is not valid": "Este link da pesquisa não é válido",
    "The link may have been cut short or changed. Please open it again from your e-mail, or "
    "copy the whole address into your browser.": (
        "O link pode ter sido cortado ou alterado. Abra-o novamente a partir do seu e-mail, ou "
        "copie o endereço inteiro no seu navegador."
    ),
    "The survey is unavailable for a moment": "A pesquisa está indisponível por um momento",
    "Nothing was recorded. Please try again in a minute.": (
        "Nada foi registrado. Tente novamente em um minuto."
    ),
    "Your answer has been recorded": "A sua resposta foi registrada",
    "You answered on %(date)s. Answers can be changed for %(hours)s hours; this one can no "
    "longer be changed. Thank you for your feedback.": (
        "Você respondeu em %(date)s. As respostas podem ser alteradas por %(hours)s horas; "
        "esta não pode mais ser alterada. Obrigado pela sua opinião."
    ),
    "Your answer could not be read": "Não foi possível ler a sua resposta",
    "Please send it from the survey page.": "Envie-a pela página da pesquisa.",
    "Back to the survey": "Voltar para a pesquisa",
    "It held characters that are not valid text (not UTF-8). Please type your answer again on "
    "the survey page.": (
        "Ela continha caracteres que não são texto válido (não UTF-8). Digite a sua resposta "
        "novamente na página da pesquisa."
    ),
    "Your answer is too long": "A sua resposta é longa demais",
    "Please shorten your comment to at most 1,000 characters and send it again.": (
        "Encurte o seu comentário para no máximo 1.000 caracteres e envie novamente."
    ),
    "Your answer was not recorded": "A sua resposta não foi registrada",
    "The form was too old, or it was not sent from the survey page. Please open the survey "
    "again and send your answer from there.": (
        "O formulário era antigo demais, ou não foi enviado pela página da pesquisa. Abra a "
        "pesquisa novamente e envie a sua resposta por lá."
    ),
    "Open the survey again": "Abrir a pesquisa novamente",
    "Too many answers at once": "Respostas demais ao mesmo tempo",
    "We received many answers from your network or for this survey in a short time, so this "
    "one was not recorded. Please try again in %(minutes)s minutes.": (
        "Recebemos muitas respostas da sua rede ou para esta pesquisa em pouco tempo, por isso "
        "esta não foi registrada. Tente novamente em %(minutes)s minutos."
    ),
    "Thank you for your answer": "Obrigado pela sua resposta",
    "It helps us improve our support. You can close this page.": (
        "Ela nos ajuda a melhorar o nosso atendimento. Você pode fechar esta página."
    ),
    "Change my answer": "Alterar minha resposta",
    "There is nothing here": "Não há nada aqui",
    "To answer a survey, open the link from your e-mail.": (
        "Para responder a uma pesquisa, abra o link do seu e-mail."
    ),
    "This page cannot do that": "Esta página não faz isso",
    "Your request could not be handled": "Não foi possível atender ao seu pedido",
    "Please open the survey again from your e-mail.": (
        "Abra a pesquisa novamente a partir do seu e-mail."
    ),
    "Something went wrong on our side": "Algo deu errado do nosso lado",
}
